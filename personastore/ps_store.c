/* ps_store.c - opening the persona store (layout version, lock file), writer and
 * reader transactions, the rebuild that forget runs, errors, and the small
 * helpers (buffers, record cursor, arena, digests) the other sources share. */
#define _GNU_SOURCE
#include "ps_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const ps_db_names[PS_NDB] = {"meta", "user", "attr", "attr_idx", "evidence",
                                         "ev_idx", "history", "withheld", "audit"};

/* ---- errors ---------------------------------------------------------------- */

pe_status ps_fail(pe_ps *ps, pe_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&ps->mu);
    pe_error_setv(&ps->err, st, fmt, ap);
    pthread_mutex_unlock(&ps->mu);
    va_end(ap);
    return st;
}

pe_status ps_mdb_fail(pe_ps *ps, int rc, const char *what)
{
    pe_status st = PE_ERR_STORE;
    if (rc == MDB_MAP_FULL) st = PE_ERR_FULL;
    else if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
        st = PE_ERR_CORRUPT;
    else if (rc == ENOMEM) st = PE_ERR_NOMEM;
    else if (rc == EIO || rc == ENOSPC || rc == EACCES || rc == ENOENT || rc == EROFS) st = PE_ERR_IO;
    if (rc == MDB_MAP_FULL)
        return ps_fail(ps, st, "%s: %s: the store's map is full; reopen it with a larger map_size",
                       ps->dir ? ps->dir : "", what);
    return ps_fail(ps, st, "%s: %s: %s", ps->dir ? ps->dir : "", what, mdb_strerror(rc));
}

pe_status ps_wfail(pe_ps_writer *w, int rc, const char *what)
{
    pe_status st = ps_mdb_fail(w->ps, rc, what);
    if (w->failed == PE_OK) w->failed = st;
    return st;
}

const char *pe_ps_errmsg(const pe_ps *ps) { return ps ? ps->err.msg : "no persona store handle"; }

double ps_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- names ----------------------------------------------------------------- */

const char *pe_ps_sensitivity_name(pe_ps_sensitivity s)
{
    static const char *const n[PE_PS_SENS_COUNT] = {"none", "personal", "health", "religion", "ethnicity",
                                                    "politics", "sexuality", "union", "genetic", "biometric"};
    return (unsigned)s < PE_PS_SENS_COUNT ? n[s] : "unknown";
}

const char *pe_ps_state_name(pe_ps_state s)
{
    switch (s) {
    case PE_PS_CURRENT: return "current";
    case PE_PS_HISTORY: return "history";
    case PE_PS_RETRACTED: return "retracted";
    }
    return "unknown";
}

const char *pe_ps_method_name(pe_ps_method m)
{
    switch (m) {
    case PE_PS_FROM_MODEL: return "model";
    case PE_PS_FROM_PATTERN: return "pattern";
    case PE_PS_FROM_GRAPH: return "graph";
    case PE_PS_FROM_PROFILE: return "profile";
    }
    return "unknown";
}

const char *pe_ps_change_name(pe_ps_change_kind k)
{
    switch (k) {
    case PE_PS_ADD: return "add";
    case PE_PS_UPDATE: return "update";
    case PE_PS_RETRACT: return "retract";
    case PE_PS_WITHHOLD: return "withhold";
    case PE_PS_FORGET: return "forget";
    }
    return "unknown";
}

/* ---- buffers, record cursor, arena ------------------------------------------ */

void ps_buf_free(ps_buf *b)
{
    free(b->b);
    memset(b, 0, sizeof *b);
}

void ps_buf_add(ps_buf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        unsigned char *nb = realloc(b->b, cap);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->b = nb;
        b->cap = cap;
    }
    if (n) memcpy(b->b + b->len, p, n);
    b->len += n;
    b->b[b->len] = 0; /* always NUL-terminated past len */
}

void ps_buf_u8(ps_buf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    ps_buf_add(b, &c, 1);
}
void ps_buf_u32(ps_buf *b, uint32_t v)
{
    unsigned char t[4];
    pe_put_be32(t, v);
    ps_buf_add(b, t, 4);
}
void ps_buf_u64(ps_buf *b, uint64_t v)
{
    unsigned char t[8];
    pe_put_be64(t, v);
    ps_buf_add(b, t, 8);
}
void ps_buf_f64(ps_buf *b, double v)
{
    unsigned char t[8];
    pe_put_bed(t, v);
    ps_buf_add(b, t, 8);
}
void ps_buf_str(ps_buf *b, const char *s)
{
    if (!s) s = "";
    ps_buf_add(b, s, strlen(s) + 1);
}

void ps_buf_printf(ps_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        ps_buf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    ps_buf_add(b, big, (size_t)n);
    free(big);
}

unsigned ps_rd_u8(ps_rd *r)
{
    if (r->off + 1 > r->len) { r->bad = 1; return 0; }
    return r->p[r->off++];
}
uint32_t ps_rd_u32(ps_rd *r)
{
    if (r->off + 4 > r->len) { r->bad = 1; return 0; }
    uint32_t v = pe_get_be32(r->p + r->off);
    r->off += 4;
    return v;
}
uint64_t ps_rd_u64(ps_rd *r)
{
    if (r->off + 8 > r->len) { r->bad = 1; return 0; }
    uint64_t v = pe_get_be64(r->p + r->off);
    r->off += 8;
    return v;
}
double ps_rd_f64(ps_rd *r)
{
    if (r->off + 8 > r->len) { r->bad = 1; return 0; }
    double v = pe_get_bed(r->p + r->off);
    r->off += 8;
    return v;
}
const char *ps_rd_str(ps_rd *r)
{
    if (r->off >= r->len) { r->bad = 1; return ""; }
    const unsigned char *s = r->p + r->off;
    const unsigned char *z = memchr(s, 0, r->len - r->off);
    if (!z) { r->bad = 1; return ""; }
    r->off += (size_t)(z - s) + 1;
    return (const char *)s;
}

struct ps_arena_blk {
    ps_arena_blk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *ps_arena_alloc(ps_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!n) n = 16;
    ps_arena_blk *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        b = malloc(sizeof *b + cap);
        if (!b) {
            a->oom = 1;
            return NULL;
        }
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *ps_arena_strdup(ps_arena *a, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = ps_arena_alloc(a, n);
    if (d) memcpy(d, s, n);
    return d;
}

void ps_arena_free(ps_arena *a)
{
    ps_arena_blk *b = a->head;
    while (b) {
        ps_arena_blk *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
}

/* ---- digests --------------------------------------------------------------- */

static int hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

void ps_sha256(const void *a, size_t alen, const void *b, size_t blen, unsigned char out[32])
{
    pe_sha256 h;
    char hex[65];
    pe_sha256_init(&h);
    if (alen) pe_sha256_update(&h, a, alen);
    if (blen) pe_sha256_update(&h, b, blen);
    pe_sha256_final_hex(&h, hex);
    for (int i = 0; i < 32; i++) out[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
}

void ps_hex(const unsigned char *d, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

void ps_user_ref_bin(const char *user, unsigned char out[32])
{
    ps_sha256(PS_USER_DOMAIN, sizeof PS_USER_DOMAIN, user, strlen(user), out); /* domain with its NUL */
}

void pe_ps_user_ref(const char *user, char hex[65])
{
    unsigned char d[32];
    ps_user_ref_bin(user ? user : "", d);
    ps_hex(d, 32, hex);
}

/* ---- validation ------------------------------------------------------------ */

int ps_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

pe_status ps_check_user(pe_ps *ps, const char *user)
{
    if (!user || !*user) return ps_fail(ps, PE_ERR_INVALID, "no user id given");
    size_t n = strlen(user);
    if (n > PE_PS_MAX_USER)
        return ps_fail(ps, PE_ERR_LIMIT, "user id of %zu bytes (at most %d)", n, PE_PS_MAX_USER);
    return PE_OK;
}

pe_status ps_check_name(pe_ps *ps, const char *what, const char *s, size_t max, int optional)
{
    if (!s || !*s) return optional ? PE_OK : ps_fail(ps, PE_ERR_INVALID, "no %s given", what);
    if (strlen(s) > max) return ps_fail(ps, PE_ERR_LIMIT, "%s longer than %zu bytes", what, max);
    if (!ps_name_ok(s, max))
        return ps_fail(ps, PE_ERR_INVALID, "%s \"%.64s\": only letters, digits and _ . : - allowed", what, s);
    return PE_OK;
}

pe_status ps_check_text(pe_ps *ps, const char *what, const char *s, size_t max, int optional)
{
    if (!s || !*s) return optional ? PE_OK : ps_fail(ps, PE_ERR_INVALID, "no %s given", what);
    size_t n = strlen(s), bad = 0;
    if (n > max) return ps_fail(ps, PE_ERR_LIMIT, "%s of %zu bytes (at most %zu)", what, n, max);
    if (!pe_utf8_valid(s, n, &bad)) return ps_fail(ps, PE_ERR_UTF8, "%s: invalid UTF-8 at byte %zu", what, bad);
    return PE_OK;
}

/* ---- opening ---------------------------------------------------------------- */

pe_ps_options pe_ps_options_default(void)
{
    pe_ps_options o;
    memset(&o, 0, sizeof o);
    o.map_size = (size_t)4 << 30;
    o.create = 1;
    o.max_readers = 256;
    return o;
}

static int meta_put64(MDB_txn *txn, MDB_dbi meta, const char *key, uint64_t v)
{
    unsigned char b[8];
    pe_put_be64(b, v);
    MDB_val k = {strlen(key), (void *)key}, d = {8, b};
    return mdb_put(txn, meta, &k, &d, 0);
}

static pe_status open_dbs(pe_ps *ps, MDB_txn *txn, int create)
{
    for (int i = 0; i < PS_NDB; i++) {
        int rc = mdb_dbi_open(txn, ps_db_names[i], create ? MDB_CREATE : 0, &ps->dbi[i]);
        if (rc == MDB_NOTFOUND)
            return ps_fail(ps, PE_ERR_CORRUPT, "%s: persona store without its '%s' database", ps->dir, ps_db_names[i]);
        if (rc) return ps_mdb_fail(ps, rc, ps_db_names[i]);
    }
    return PE_OK;
}

/* Reads (or, for a fresh environment, writes) the layout version. Writes
 * nothing unless the environment is empty and create_ok. */
static pe_status check_layout(pe_ps *ps, int create_ok)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(ps->env, NULL, MDB_RDONLY, &txn);
    if (rc) return ps_mdb_fail(ps, rc, "begin");
    MDB_dbi meta;
    rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == MDB_NOTFOUND) {
        MDB_dbi main_db;
        MDB_stat stt;
        rc = mdb_dbi_open(txn, NULL, 0, &main_db);
        if (!rc) rc = mdb_stat(txn, main_db, &stt);
        mdb_txn_abort(txn);
        if (rc) return ps_mdb_fail(ps, rc, "main database");
        if (stt.ms_entries > 0)
            return ps_fail(ps, PE_ERR_CORRUPT, "%s: not a persona store (an LMDB environment holding other data)",
                           ps->dir);
        if (!create_ok)
            return ps_fail(ps, PE_ERR_CORRUPT, "%s: empty environment, no persona store yet (open it writable "
                                               "to create one)", ps->dir);
        rc = mdb_txn_begin(ps->env, NULL, 0, &txn);
        if (rc) return ps_mdb_fail(ps, rc, "begin");
        pe_status st = open_dbs(ps, txn, 1);
        if (st != PE_OK) { mdb_txn_abort(txn); return st; }
        unsigned char v[4];
        pe_put_be32(v, PS_LAYOUT_VERSION);
        MDB_val k = {14, "layout_version"}, d = {4, v};
        rc = mdb_put(txn, ps->dbi[PS_META], &k, &d, 0);
        if (!rc) rc = meta_put64(txn, ps->dbi[PS_META], "next_uid", 1);
        if (!rc) rc = meta_put64(txn, ps->dbi[PS_META], "next_aid", 1);
        if (rc) { mdb_txn_abort(txn); return ps_mdb_fail(ps, rc, "creating the store"); }
        rc = mdb_txn_commit(txn);
        return rc ? ps_mdb_fail(ps, rc, "creating the store") : PE_OK;
    }
    if (rc) { mdb_txn_abort(txn); return ps_mdb_fail(ps, rc, "meta"); }
    MDB_val k = {14, "layout_version"}, d;
    rc = mdb_get(txn, meta, &k, &d);
    if (rc || d.mv_size != 4) {
        mdb_txn_abort(txn);
        return ps_fail(ps, PE_ERR_CORRUPT, "%s: not a persona store (no layout version in 'meta')", ps->dir);
    }
    uint32_t ver = pe_get_be32(d.mv_data);
    if (ver != PS_LAYOUT_VERSION) {
        mdb_txn_abort(txn);
        if (ver > PS_LAYOUT_VERSION)
            return ps_fail(ps, PE_ERR_UNSUPPORTED, "%s: persona store layout version %u is newer than this build "
                                                   "reads (%d): upgrade persona; the store was not changed",
                           ps->dir, ver, PS_LAYOUT_VERSION);
        return ps_fail(ps, PE_ERR_CORRUPT, "%s: persona store layout version %u, this build reads version %d",
                       ps->dir, ver, PS_LAYOUT_VERSION);
    }
    pe_status st = open_dbs(ps, txn, 0);
    if (st != PE_OK) { mdb_txn_abort(txn); return st; }
    rc = mdb_txn_commit(txn); /* keeps the dbi handles */
    return rc ? ps_mdb_fail(ps, rc, "open") : PE_OK;
}

static pe_status env_open(pe_ps *ps)
{
    int rc = mdb_env_create(&ps->env);
    if (!rc) rc = mdb_env_set_maxdbs(ps->env, PS_NDB + 4);
    if (!rc) rc = mdb_env_set_mapsize(ps->env, ps->opt.map_size);
    if (!rc) rc = mdb_env_set_maxreaders(ps->env, ps->opt.max_readers ? ps->opt.max_readers : 256);
    if (rc) {
        if (ps->env) mdb_env_close(ps->env);
        ps->env = NULL;
        return ps_mdb_fail(ps, rc, "environment");
    }
    unsigned flags = MDB_NOTLS | (ps->opt.read_only ? MDB_RDONLY : 0);
    rc = mdb_env_open(ps->env, ps->dir, flags, 0664);
    if (rc) {
        mdb_env_close(ps->env);
        ps->env = NULL;
        if (rc == MDB_INVALID) return ps_fail(ps, PE_ERR_CORRUPT, "%s: data.mdb is not an LMDB file", ps->dir);
        if (rc == MDB_VERSION_MISMATCH)
            return ps_fail(ps, PE_ERR_CORRUPT, "%s: written by an incompatible LMDB version", ps->dir);
        if (rc == ENOENT && ps->opt.read_only)
            return ps_fail(ps, PE_ERR_IO, "%s: no persona store here (data.mdb missing)", ps->dir);
        return ps_mdb_fail(ps, rc, "open");
    }
    return PE_OK;
}

/* The handles' lock on DIR/pstore.lock: shared while open, exclusive for a
 * rebuild. Open-file-description locks convert atomically (a failed
 * upgrade keeps the shared lock, which flock() does not promise) and,
 * unlike POSIX record locks, are not dropped when any other descriptor of
 * the file is closed. */
static int lock_file(int fd, int exclusive, int wait)
{
#ifdef F_OFD_SETLK
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
    fl.l_whence = SEEK_SET;
    int rc;
    do rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
    while (rc != 0 && errno == EINTR);
    return rc;
#else
    return flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB));
#endif
}

static void ps_free(pe_ps *ps)
{
    if (ps->env) mdb_env_close(ps->env);
    if (ps->lock_fd >= 0) close(ps->lock_fd); /* releases the lock */
    pthread_mutex_destroy(&ps->mu);
    free(ps->dir);
    free(ps);
}

static int rebuild_pending(pe_ps *ps)
{
    MDB_txn *txn;
    if (mdb_txn_begin(ps->env, NULL, MDB_RDONLY, &txn)) return 0;
    MDB_val k = {15, "rebuild_pending"}, d;
    int pending = mdb_get(txn, ps->dbi[PS_META], &k, &d) == 0;
    mdb_txn_abort(txn);
    return pending;
}

pe_status pe_ps_open(const char *dir, const pe_ps_options *opt, pe_ps **out, pe_error *err)
{
    pe_error_clear(err);
    if (!out) return pe_error_set(err, PE_ERR_INVALID, "no output handle given");
    *out = NULL;
    if (!dir || !*dir) return pe_error_set(err, PE_ERR_INVALID, "no store directory given");
    pe_ps *ps = calloc(1, sizeof *ps);
    if (!ps) return pe_error_set(err, PE_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&ps->mu, NULL);
    pe_error_clear(&ps->err);
    ps->lock_fd = -1;
    ps->opt = opt ? *opt : pe_ps_options_default();
    if (!ps->opt.map_size) ps->opt.map_size = pe_ps_options_default().map_size;
    pe_status st = PE_OK;
    ps->dir = strdup(dir);
    if (!ps->dir) {
        st = ps_fail(ps, PE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) {
            st = ps_fail(ps, PE_ERR_IO, "%s: not a directory (a persona store is a directory)", dir);
            goto fail;
        }
    } else if (errno == ENOENT && ps->opt.create && !ps->opt.read_only) {
        if (mkdir(dir, 0775) != 0 && errno != EEXIST) {
            st = ps_fail(ps, PE_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
            goto fail;
        }
    } else {
        st = ps_fail(ps, PE_ERR_IO, "%s: %s", dir, strerror(errno));
        goto fail;
    }

    /* The shared lock tells a rebuild that this process uses the store.
     * Every store made by pe_ps_open has the file; a read-only open of a
     * bare copy of data.mdb goes without (nothing can rebuild it). */
    char lp[4096];
    snprintf(lp, sizeof lp, "%s/pstore.lock", dir);
    ps->lock_fd = open(lp, ps->opt.read_only ? O_RDWR | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0664);
    if (ps->lock_fd < 0 && ps->opt.read_only) ps->lock_fd = open(lp, O_RDONLY | O_CLOEXEC);
    if (ps->lock_fd < 0 && !ps->opt.read_only) {
        st = ps_fail(ps, PE_ERR_IO, "%s: %s", lp, strerror(errno));
        goto fail;
    }
    if (ps->lock_fd >= 0 && lock_file(ps->lock_fd, 0, 1) != 0) {
        st = ps_fail(ps, PE_ERR_IO, "%s: lock: %s", lp, strerror(errno));
        goto fail;
    }
    st = env_open(ps);
    if (st != PE_OK) goto fail;
    st = check_layout(ps, !ps->opt.read_only && ps->opt.create);
    if (st != PE_OK) goto fail;
    if (!ps->opt.read_only && rebuild_pending(ps)) {
        /* Not alone: the store stays usable and the rebuild pending. */
        (void)ps_rebuild(ps);
        pe_error_clear(&ps->err);
        if (!ps->env) {
            st = ps_fail(ps, PE_ERR_STORE, "%s: the store could not be reopened after its rebuild", dir);
            goto fail;
        }
    }
    *out = ps;
    return PE_OK;
fail:
    if (err) *err = ps->err;
    ps_free(ps);
    return st;
}

void pe_ps_close(pe_ps *ps)
{
    if (!ps) return;
    if (ps->writer) pe_ps_writer_abort(ps->writer);
    ps_free(ps);
}

/* ---- transactions ------------------------------------------------------------ */

/* LMDB 0.9 picks a read snapshot in two steps: it takes the last committed
 * transaction id, then copies the root pointers from that id's meta page.
 * A reader delayed between the two, while the writer commits twice, copies
 * the roots of a later commit (one whose meta page is written but whose id
 * is not yet published): its snapshot is newer than its id, and the next
 * reader, which sees the published id, reads an older state than it did.
 * The pages stay safe (nothing committed after the reader's id is reused
 * while it lives), but reads would go back in time. So every commit that
 * writes stamps its own id in meta ("snapshot_txn"), and a reader whose
 * snapshot carries an id above its own starts again; the writer publishes
 * the id right after, so this ends at once. A stamp beyond the ids this
 * environment has published (a store copied with renumbered ids) is stale,
 * not ahead, and is taken as it is. */
#define PS_SNAPSHOT_KEY "snapshot_txn"

static uint64_t snapshot_stamp(pe_ps *ps, MDB_txn *txn)
{
    MDB_val k = {sizeof PS_SNAPSHOT_KEY - 1, PS_SNAPSHOT_KEY}, d;
    if (mdb_get(txn, ps->dbi[PS_META], &k, &d) != 0 || d.mv_size != 8) return 0;
    return pe_get_be64(d.mv_data);
}

static int snapshot_ahead(pe_ps *ps, MDB_txn *txn)
{
    uint64_t stamp = snapshot_stamp(ps, txn);
    if (stamp <= (uint64_t)mdb_txn_id(txn)) return 0;
    MDB_envinfo info;
    if (mdb_env_info(ps->env, &info) != 0) return 0;
    return stamp <= (uint64_t)info.me_last_txnid + 1;
}

static pe_status txn_begin(pe_ps *ps, unsigned flags, MDB_txn **txn)
{
    pthread_mutex_lock(&ps->mu);
    int busy = ps->rebuilding || !ps->env;
    if (!busy) ps->active++;
    pthread_mutex_unlock(&ps->mu);
    if (busy)
        return ps_fail(ps, PE_ERR_BUSY, "%s: %s", ps->dir,
                       ps->env ? "the store is being rebuilt" : "the store was lost by a failed rebuild");
    int rc = mdb_txn_begin(ps->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        pthread_mutex_lock(&ps->mu);
        int alone = ps->active == 1;
        pthread_mutex_unlock(&ps->mu);
        if (alone && mdb_env_set_mapsize(ps->env, 0) == 0) rc = mdb_txn_begin(ps->env, NULL, flags, txn);
    }
    for (int tries = 0; !rc && (flags & MDB_RDONLY) && tries < 1000 && snapshot_ahead(ps, *txn); tries++) {
        mdb_txn_abort(*txn);
        sched_yield();
        rc = mdb_txn_begin(ps->env, NULL, flags, txn);
    }
    if (rc) {
        pthread_mutex_lock(&ps->mu);
        ps->active--;
        pthread_mutex_unlock(&ps->mu);
        return ps_mdb_fail(ps, rc, "begin");
    }
    return PE_OK;
}

static void txn_done(pe_ps *ps)
{
    pthread_mutex_lock(&ps->mu);
    ps->active--;
    pthread_mutex_unlock(&ps->mu);
}

pe_status ps_audit_load_head(pe_ps *ps, MDB_txn *txn, uint64_t *seq, unsigned char hash[32])
{
    MDB_val k = {10, "audit_head"}, d;
    int rc = mdb_get(txn, ps->dbi[PS_META], &k, &d);
    if (rc == MDB_NOTFOUND) {
        *seq = 0;
        memset(hash, 0, 32);
        return PE_OK;
    }
    if (rc) return ps_mdb_fail(ps, rc, "audit head");
    if (d.mv_size != 40) return ps_fail(ps, PE_ERR_CORRUPT, "%s: audit head of %zu bytes", ps->dir, d.mv_size);
    *seq = pe_get_be64(d.mv_data);
    memcpy(hash, (unsigned char *)d.mv_data + 8, 32);
    return PE_OK;
}

pe_status pe_ps_writer_begin(pe_ps *ps, pe_ps_writer **out)
{
    if (!out) return PE_ERR_INVALID;
    *out = NULL;
    if (!ps) return PE_ERR_INVALID;
    if (ps->opt.read_only) return ps_fail(ps, PE_ERR_INVALID, "%s: opened read-only", ps->dir);
    pe_ps_writer *w = calloc(1, sizeof *w);
    if (!w) return ps_fail(ps, PE_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&ps->mu);
    int busy = ps->writer != NULL;
    if (!busy) ps->writer = w;
    pthread_mutex_unlock(&ps->mu);
    if (busy) {
        free(w);
        return ps_fail(ps, PE_ERR_BUSY, "%s: this handle already has a writer", ps->dir);
    }
    w->ps = ps;
    pe_status st = txn_begin(ps, 0, &w->txn);
    if (st == PE_OK) {
        st = ps_audit_load_head(ps, w->txn, &w->audit_seq, w->audit_hash);
        if (st != PE_OK) {
            mdb_txn_abort(w->txn);
            txn_done(ps);
        }
    }
    if (st != PE_OK) {
        pthread_mutex_lock(&ps->mu);
        ps->writer = NULL;
        pthread_mutex_unlock(&ps->mu);
        free(w);
        return st;
    }
    w->reader.ps = ps;
    w->reader.txn = w->txn;
    w->reader.borrowed = 1;
    *out = w;
    return PE_OK;
}

static void writer_release(pe_ps_writer *w)
{
    pe_ps *ps = w->ps;
    txn_done(ps);
    pthread_mutex_lock(&ps->mu);
    ps->writer = NULL;
    pthread_mutex_unlock(&ps->mu);
    free(w);
}

pe_status pe_ps_writer_commit(pe_ps_writer *w)
{
    if (!w) return PE_ERR_INVALID;
    pe_status st = w->failed;
    if (st != PE_OK) {
        mdb_txn_abort(w->txn);
    } else {
        int rc = 0;
        if (w->dirty) {
            unsigned char id[8];
            pe_put_be64(id, (uint64_t)mdb_txn_id(w->txn));
            MDB_val k = {sizeof PS_SNAPSHOT_KEY - 1, PS_SNAPSHOT_KEY}, d = {8, id};
            rc = mdb_put(w->txn, w->ps->dbi[PS_META], &k, &d, 0);
        }
        if (rc) {
            mdb_txn_abort(w->txn);
            st = ps_mdb_fail(w->ps, rc, "commit");
        } else {
            rc = mdb_txn_commit(w->txn);
            if (rc) st = ps_mdb_fail(w->ps, rc, "commit");
        }
    }
    writer_release(w);
    return st;
}

void pe_ps_writer_abort(pe_ps_writer *w)
{
    if (!w) return;
    mdb_txn_abort(w->txn);
    writer_release(w);
}

pe_ps_reader *pe_ps_writer_reader(pe_ps_writer *w) { return w ? &w->reader : NULL; }

pe_status pe_ps_reader_begin(pe_ps *ps, pe_ps_reader **out)
{
    if (!out) return PE_ERR_INVALID;
    *out = NULL;
    if (!ps) return PE_ERR_INVALID;
    pe_ps_reader *r = calloc(1, sizeof *r);
    if (!r) return ps_fail(ps, PE_ERR_NOMEM, "out of memory");
    r->ps = ps;
    pe_status st = txn_begin(ps, MDB_RDONLY, &r->txn);
    if (st != PE_OK) {
        free(r);
        return st;
    }
    *out = r;
    return PE_OK;
}

pe_status pe_ps_reader_renew(pe_ps_reader *r)
{
    if (!r || r->borrowed) return PE_ERR_INVALID;
    mdb_txn_reset(r->txn);
    int rc = mdb_txn_renew(r->txn);
    return rc ? ps_mdb_fail(r->ps, rc, "renew") : PE_OK;
}

void pe_ps_reader_end(pe_ps_reader *r)
{
    if (!r || r->borrowed) return;
    mdb_txn_abort(r->txn);
    txn_done(r->ps);
    free(r);
}

/* ---- rebuild ------------------------------------------------------------------ */

static void rm_tmp(const char *tmp)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/data.mdb", tmp);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", tmp);
    unlink(p);
    rmdir(tmp);
}

static int key_is(const MDB_val *k, const char *s)
{
    return k->mv_size == strlen(s) && memcmp(k->mv_data, s, k->mv_size) == 0;
}

/* Copies every record of the open environment into a fresh one in `tmp`
 * (the "rebuild_pending" mark and the snapshot stamp left out), with
 * mdb_put: the new pages are built from the records alone, so no stale
 * byte of a freed record or of a page's unused middle comes along (a
 * compacting mdb_env_copy2 copies whole pages). */
static pe_status copy_live(pe_ps *ps, const char *tmp)
{
    MDB_env *ne = NULL;
    MDB_txn *rt = NULL, *wt = NULL;
    MDB_cursor *cur = NULL;
    MDB_envinfo info;
    pe_status st = PE_OK;
    int rc = mdb_env_info(ps->env, &info);
    if (!rc) rc = mdb_env_create(&ne);
    if (!rc) rc = mdb_env_set_maxdbs(ne, PS_NDB + 4);
    if (!rc) rc = mdb_env_set_mapsize(ne, info.me_mapsize);
    if (!rc) rc = mdb_env_open(ne, tmp, MDB_NOTLS | MDB_NOSYNC, 0664);
    if (!rc) rc = mdb_txn_begin(ps->env, NULL, MDB_RDONLY, &rt);
    if (!rc) rc = mdb_txn_begin(ne, NULL, 0, &wt);
    for (int i = 0; !rc && i < PS_NDB; i++) {
        MDB_dbi nd;
        rc = mdb_dbi_open(wt, ps_db_names[i], MDB_CREATE, &nd);
        if (!rc) rc = mdb_cursor_open(rt, ps->dbi[i], &cur);
        MDB_val k, v;
        int g = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (!rc && g == 0) {
            if (!(i == PS_META && (key_is(&k, "rebuild_pending") || key_is(&k, PS_SNAPSHOT_KEY))))
                rc = mdb_put(wt, nd, &k, &v, MDB_APPEND);
            if (!rc) g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        if (!rc && g != MDB_NOTFOUND) rc = g;
        if (cur) mdb_cursor_close(cur);
        cur = NULL;
    }
    if (!rc) {
        rc = mdb_txn_commit(wt);
        wt = NULL;
    }
    if (!rc) rc = mdb_env_sync(ne, 1);
    if (rc) st = ps_mdb_fail(ps, rc, "rebuild: copying the live records");
    if (wt) mdb_txn_abort(wt);
    if (rt) mdb_txn_abort(rt);
    if (ne) mdb_env_close(ne);
    return st;
}

pe_status ps_rebuild(pe_ps *ps)
{
    if (ps->opt.read_only) return ps_fail(ps, PE_ERR_INVALID, "%s: opened read-only", ps->dir);
    pthread_mutex_lock(&ps->mu);
    int busy = ps->active > 0 || ps->writer || ps->rebuilding || !ps->env;
    if (!busy) ps->rebuilding = 1;
    pthread_mutex_unlock(&ps->mu);
    if (busy)
        return ps_fail(ps, PE_ERR_BUSY, "%s: rebuild needs the handle idle (a reader or writer of it is open)",
                       ps->dir);
    pe_status st = PE_OK;
    if (ps->lock_fd >= 0 && lock_file(ps->lock_fd, 1, 0) != 0) {
        st = ps_fail(ps, PE_ERR_BUSY, "%s: another process has the store open; the rebuild stays pending", ps->dir);
        goto out;
    }
    char tmp[4096], from[4200], to[4200];
    snprintf(tmp, sizeof tmp, "%s/rebuild.tmp", ps->dir);
    rm_tmp(tmp);
    if (mkdir(tmp, 0775) != 0) {
        st = ps_fail(ps, PE_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto unlock;
    }
    st = copy_live(ps, tmp);
    if (st != PE_OK) {
        rm_tmp(tmp);
        goto unlock;
    }
    mdb_env_close(ps->env);
    ps->env = NULL;
    snprintf(from, sizeof from, "%s/data.mdb", tmp);
    snprintf(to, sizeof to, "%s/data.mdb", ps->dir);
    if (rename(from, to) != 0) st = ps_fail(ps, PE_ERR_IO, "rebuild: rename %s: %s", from, strerror(errno));
    rm_tmp(tmp);
    int dfd = open(ps->dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    {
        pe_status st2 = env_open(ps);
        if (st2 == PE_OK) st2 = check_layout(ps, 0);
        if (st2 != PE_OK) {
            if (ps->env) mdb_env_close(ps->env);
            ps->env = NULL;
            st = st2;
        }
    }
unlock:
    if (ps->lock_fd >= 0) lock_file(ps->lock_fd, 0, 1); /* back to shared */
out:
    pthread_mutex_lock(&ps->mu);
    ps->rebuilding = 0;
    pthread_mutex_unlock(&ps->mu);
    return st;
}

pe_status pe_ps_rebuild(pe_ps *ps)
{
    if (!ps) return PE_ERR_INVALID;
    return ps_rebuild(ps);
}
