/*
 * pe_personastore.h - the persona store (LMDB): users, persona attributes,
 * their evidence and history, and a hash-chained append-only audit log.
 * Depends on util and LMDB only, so that audit and forget need neither the
 * encoder nor BLAS.
 *
 * Usage:
 *
 *     pe_ps *ps; pe_error err;
 *     pe_ps_options o = pe_ps_options_default();
 *     if (pe_ps_open("personas.db", &o, &ps, &err) != PE_OK) { ... err.msg ... }
 *
 *     // write (one writer at a time; other processes' writers wait)
 *     pe_ps_writer *w;
 *     pe_ps_writer_begin(ps, &w);
 *     pe_ps_upsert up = { .user = "u1", .attribute = "residence",
 *                         .relation = "live_in_citystatecountry", .value = "Paris",
 *                         .entity = "Q90", .confidence = 0.8, .functional = 1,
 *                         .sensitivity = PE_PS_SENS_PERSONAL };
 *     pe_ps_evidence ev = { .message_id = "m1", .message_time = 1700000000,
 *                           .span_start = 13, .span_end = 18, .snippet = "paris",
 *                           .model_id = "persona-rel", .model_version = "3",
 *                           .relation_score = 0.91, .ner_score = 0.97,
 *                           .link_score = 0.88, .rule = "map_relation" };
 *     pe_ps_upsert_result res;
 *     pe_ps_upsert_attr(w, &up, &ev, &res); // res.outcome: ADDED, UPDATED, REPLACED, UNCHANGED
 *     pe_ps_writer_commit(w);
 *
 *     // read (any number of readers: threads and processes, MVCC snapshots)
 *     pe_ps_reader *r;
 *     pe_ps_reader_begin(ps, &r);
 *     pe_ps_attr_list *l;
 *     pe_ps_attributes(r, "u1", NULL, PE_PS_LIST_EVIDENCE, &l); ... pe_ps_attr_list_free(l);
 *     pe_ps_audit_verify(r, NULL);                 // PE_ERR_CORRUPT when tampered with
 *     pe_ps_reader_end(r);
 *
 *     pe_ps_forget(ps, "u1", "user request", NULL); // erases u1; leaves a tombstone
 *     pe_ps_close(ps);
 *
 * Model. A user (an opaque id) holds attributes. An attribute is one value
 * of a persona attribute ("residence" = "paris", Q90) with its confidence,
 * sensitivity class, first/last seen (message times) and state: CURRENT,
 * HISTORY (replaced by another value of a functional attribute, or stored
 * as a non-winning alternative) or RETRACTED. Its identity is (user,
 * attribute name, normalised value): evidence for the same value adds to
 * the same attribute. Each attribute keeps a list of evidence records (the
 * message, span, snippet, model, scores, link, graph facts, fusion rule and
 * what the value replaced). Every change also goes to the user's history
 * (with texts; erased by forget) and to the audit log (hashes and vocabulary
 * only; kept after forget). A functional attribute ("age", "residence")
 * holds at most one CURRENT value; the store enforces it, the caller (the
 * fusion layer) decides which value wins.
 *
 * Normalisation: values are stored NFC, case-folded, with whitespace runs
 * collapsed to one space and trimmed ("  New  York " -> "new york"); an
 * empty value after that is PE_ERR_INVALID. Evidence snippets are stored
 * with e-mail addresses, phone numbers and similar identifiers masked
 * (pe_ps_mask_identifiers).
 *
 * What outlives forget: the audit log. It holds no user text: users are
 * named by pe_ps_user_ref() (SHA-256 of the id), values and message ids by
 * digests salted with a per-user random salt that forget destroys, so they
 * cannot be recomputed afterwards. Attribute, relation and rule names, the
 * sensitivity class and the reason given to retract/withhold/forget are
 * stored as they are: they must be vocabulary, never user text. Names are
 * checked: 1..64 bytes of [A-Za-z0-9_.:-] (rules up to 128); a reason is at
 * most 256 bytes of UTF-8.
 *
 * Errors: functions return a pe_status; the detail of the last failure on a
 * handle is in pe_ps_errmsg(ps). Every function may also return
 * PE_ERR_INVALID (NULL handle or output, bad argument), PE_ERR_LIMIT (a
 * string over its limit, see "Limits"), PE_ERR_UTF8 (text that is not
 * UTF-8) and PE_ERR_STORE / PE_ERR_CORRUPT / PE_ERR_NOMEM / PE_ERR_IO (LMDB
 * failure, damaged store, memory, disk); those are not repeated below. On
 * failure, an output pointer is set to NULL and nothing needs freeing.
 *
 * Threads and processes: one pe_ps handle may be shared by threads; each
 * reader and the writer is used by one thread at a time. Open a store at
 * most once per process (LMDB's rule); other processes open their own
 * handle (never one inherited across fork()). A reader sees the snapshot of
 * its begin/renew, never uncommitted data, whatever a writer does meanwhile.
 *
 * Writers: any failure inside a writer (PE_ERR_FULL when the map is full,
 * PE_ERR_IO, ...) makes every later call on it return the same status;
 * commit then aborts and returns it. Argument errors (PE_ERR_INVALID,
 * PE_ERR_LIMIT, PE_ERR_UTF8) are checked before anything is written and
 * leave the writer usable.
 *
 * Forget and free pages. LMDB is copy-on-write: deleted records stay in
 * freed pages of data.mdb until those pages are reused. pe_ps_forget
 * therefore rebuilds the store after deleting: every live record is copied
 * into a fresh environment, which replaces data.mdb (atomic rename), so the
 * file holds no byte of the forgotten user (freed pages are not copied, and
 * a fresh environment never held them). The copy goes record by record, not
 * through mdb_env_copy2(MDB_CP_COMPACT): that one copies whole pages, with
 * whatever stale bytes lie in the unused middle of each. The rebuild
 * needs the store to itself: no other process may have it open (each
 * handle holds a shared lock on DIR/pstore.lock, an fcntl
 * open-file-description lock; the rebuild upgrades it to exclusive) and
 * this handle must have no reader or writer. Its cost is a copy of the
 * store (one write transaction; LMDB spills its pages to disk as it
 * grows). The disk itself may keep the
 * old file's blocks: that is the file system's business.
 *
 * Record layouts and the audit log format: see "LMDB layout" at the end.
 */
#ifndef PE_PERSONASTORE_H
#define PE_PERSONASTORE_H

#include <stddef.h>
#include <stdint.h>

#include "pe_util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pe_ps pe_ps;
typedef struct pe_ps_writer pe_ps_writer;
typedef struct pe_ps_reader pe_ps_reader;

/* Limits (bytes). PE_ERR_LIMIT beyond them. */
#define PE_PS_MAX_USER 256     /* user id */
#define PE_PS_MAX_NAME 64      /* attribute and relation names */
#define PE_PS_MAX_RULE 128     /* fusion rule names */
#define PE_PS_MAX_REASON 256   /* reasons (kept in the audit log) */
#define PE_PS_MAX_VALUE 1024   /* a value, a message id, an entity, a model id or version */
#define PE_PS_MAX_SNIPPET 4096 /* an evidence snippet (before masking) */
#define PE_PS_MAX_FACT 2048    /* each string of a graph fact */
#define PE_PS_MAX_FACTS 64     /* graph facts per evidence record */

/* ---- Opening -------------------------------------------------------------- */

typedef struct pe_ps_options {
    size_t map_size;      /* LMDB map size in bytes (sparse file); default 4 GiB */
    int read_only;        /* open without write access */
    int create;           /* create the directory and store if missing; default 1 */
    unsigned max_readers; /* concurrent read transactions; default 256 */
} pe_ps_options;

PE_API pe_ps_options pe_ps_options_default(void);

/* Opens (creating if allowed) the persona store in directory `dir` (opt
 * NULL = defaults; a read-only open never creates). When a rebuild left
 * over by a forget is pending (another process had the store open) and
 * this handle is writable and alone, it is run here. On failure *out is
 * NULL, nothing needs closing, and err (may be NULL) says why. Errors:
 * PE_ERR_IO (path), PE_ERR_CORRUPT (not a persona store: another LMDB
 * environment, no layout version), PE_ERR_UNSUPPORTED (a store of a newer
 * layout version: data.mdb is left as it was, not a byte changed). */
PE_API pe_status pe_ps_open(const char *dir, const pe_ps_options *opt, pe_ps **out, pe_error *err);
/* NULL is a no-op. All readers and writers of the handle must have ended. */
PE_API void pe_ps_close(pe_ps *ps);
/* Message of the last failure on this handle ("" when none). Never NULL. */
PE_API const char *pe_ps_errmsg(const pe_ps *ps);

/* ---- Vocabulary ------------------------------------------------------------ */

/* Sensitivity classes. The GDPR Art. 9 special categories come after
 * PE_PS_SENS_PERSONAL (PE_PS_SENS_IS_SPECIAL); the store stores what the
 * caller decided: withholding is the caller's policy (pe_ps_withhold). */
typedef enum pe_ps_sensitivity {
    PE_PS_SENS_NONE = 0,      /* interests, pets, foods, ... */
    PE_PS_SENS_PERSONAL,      /* identifies or locates: name, age, residence, employer */
    PE_PS_SENS_HEALTH,
    PE_PS_SENS_RELIGION,      /* religion or belief */
    PE_PS_SENS_ETHNICITY,     /* racial or ethnic origin */
    PE_PS_SENS_POLITICS,      /* political opinions */
    PE_PS_SENS_SEXUALITY,     /* sex life or sexual orientation */
    PE_PS_SENS_UNION,         /* trade-union membership */
    PE_PS_SENS_GENETIC,
    PE_PS_SENS_BIOMETRIC,
    PE_PS_SENS_COUNT
} pe_ps_sensitivity;
#define PE_PS_SENS_IS_SPECIAL(s) ((s) >= PE_PS_SENS_HEALTH && (s) < PE_PS_SENS_COUNT)
/* "none", "personal", "health", "religion", "ethnicity", "politics",
 * "sexuality", "union", "genetic", "biometric"; "unknown" otherwise. */
PE_API const char *pe_ps_sensitivity_name(pe_ps_sensitivity s);

typedef enum pe_ps_state {
    PE_PS_CURRENT = 0,
    PE_PS_HISTORY = 1,   /* replaced, or a non-current alternative */
    PE_PS_RETRACTED = 2  /* negated ("i no longer ...") or aged out */
} pe_ps_state;
PE_API const char *pe_ps_state_name(pe_ps_state s); /* "current", "history", "retracted" */

/* How an evidence record was obtained. */
typedef enum pe_ps_method {
    PE_PS_FROM_MODEL = 0,  /* the relation/NER model */
    PE_PS_FROM_PATTERN,    /* patterns over the model's tokens ("i'm 25") */
    PE_PS_FROM_GRAPH,      /* derived from graph facts (city -> country) */
    PE_PS_FROM_PROFILE     /* an existing user profile given as input */
} pe_ps_method;
PE_API const char *pe_ps_method_name(pe_ps_method m); /* "model", "pattern", "graph", "profile" */

/* Kinds of change: audit records and history entries. */
typedef enum pe_ps_change_kind {
    PE_PS_ADD = 1,      /* a new attribute value */
    PE_PS_UPDATE = 2,   /* new evidence, confidence, or state of an existing value */
    PE_PS_RETRACT = 3,
    PE_PS_WITHHOLD = 4, /* a sensitive value not stored (audit log only) */
    PE_PS_FORGET = 5    /* the user erased (audit log only: the tombstone) */
} pe_ps_change_kind;
PE_API const char *pe_ps_change_name(pe_ps_change_kind k); /* "add", "update", ... */

/* ---- Evidence ---------------------------------------------------------------- */

/* A graph fact used by the fusion, with where it came from. */
typedef struct pe_ps_fact {
    const char *subject;   /* "Q90" or an IRI */
    const char *predicate; /* "P17" or an IRI */
    const char *object;    /* entity id, IRI or literal text */
    const char *source;    /* the import source (dump file name or URL) */
    const char *dump_date; /* date of that dump ("2024-05-01"), NULL/"" if unknown */
} pe_ps_fact;

/* An evidence record. As input, strings are copied; NULL means none (read
 * back as NULL); scores are NAN when absent. As output (in a
 * pe_ps_attr_list), everything is borrowed from the list. */
typedef struct pe_ps_evidence {
    const char *message_id;  /* required */
    double message_time;     /* Unix seconds (as the message says) */
    uint32_t span_start;     /* character span in the message, [start, end) */
    uint32_t span_end;
    const char *snippet;     /* the span's text (or a window around it); stored masked */
    pe_ps_method method;
    const char *model_id;    /* "persona-rel-bert" */
    const char *model_version;
    double relation_score;   /* relation head's score, NAN = none */
    double ner_score;        /* NER head's score, NAN = none */
    const char *entity;      /* the linked entity (QID), NULL = none */
    double link_score;       /* the linker's score, NAN = none */
    const pe_ps_fact *facts; /* graph facts used */
    size_t n_facts;
    const char *rule;        /* fusion rule that produced it (vocabulary) */
    /* output only (ignored as input): */
    const char *replaced;    /* the value this evidence's upsert made history, or NULL */
    double recorded;         /* when the store took it (Unix seconds) */
} pe_ps_evidence;

/* ---- Writing -------------------------------------------------------------- */

/* Starts the single write transaction. Blocks while another process writes.
 * PE_ERR_BUSY when this handle already has a writer or is rebuilding;
 * PE_ERR_INVALID when read-only. */
PE_API pe_status pe_ps_writer_begin(pe_ps *ps, pe_ps_writer **out);
/* Commits and frees the writer (also on failure). PE_ERR_FULL when the map
 * is full (reopen with a larger map_size). */
PE_API pe_status pe_ps_writer_commit(pe_ps_writer *w);
/* Aborts and frees; NULL is a no-op. */
PE_API void pe_ps_writer_abort(pe_ps_writer *w);
/* A reader over the writer's own uncommitted state (to look at the current
 * value before deciding), usable with every reading function. Borrowed:
 * valid until the writer commits or aborts; never end or renew it. */
PE_API pe_ps_reader *pe_ps_writer_reader(pe_ps_writer *w);

typedef struct pe_ps_upsert {
    const char *user;          /* user id (bytes, no NUL) */
    const char *attribute;     /* persona attribute name: "residence" */
    const char *relation;      /* the model's relation: "live_in_citystatecountry"; NULL = none */
    const char *value;         /* object text as written; stored normalised */
    const char *entity;        /* linked entity (QID), NULL = none; replaces the stored one when given */
    double confidence;         /* the attribute's confidence after this evidence, in [0, 1] */
    pe_ps_sensitivity sensitivity;
    int functional;            /* 1: one CURRENT value per (user, attribute) */
    int keep_current;          /* functional only: 1 = another CURRENT value stays current
                                  and this one is stored (or stays) in HISTORY */
} pe_ps_upsert;

typedef enum pe_ps_outcome {
    PE_PS_UNCHANGED = 0, /* the same evidence (user, message id, attribute, value) was there */
    PE_PS_ADDED,         /* a new attribute value */
    PE_PS_UPDATED,       /* new evidence for an existing value */
    PE_PS_REPLACED       /* a functional value became current; the previous one went to history */
} pe_ps_outcome;

typedef struct pe_ps_upsert_result {
    pe_ps_outcome outcome;
    uint64_t attr_id;    /* the attribute's id (stable until forget) */
    uint64_t audit_seq;  /* the audit record written, 0 when UNCHANGED */
} pe_ps_upsert_result;

/* Adds evidence `ev` (required) for the value up->value of up->attribute of
 * up->user, in the writer's transaction, creating the user and the
 * attribute as needed. Idempotent: when evidence with the same message id
 * is already stored for this (user, attribute, value), nothing changes
 * (confidence, times and state included) and the outcome is UNCHANGED.
 * Otherwise the evidence is appended; confidence becomes up->confidence;
 * first/last seen widen to ev->message_time; the entity is set when given.
 * State: a value that is not current becomes CURRENT, unless up->functional
 * and up->keep_current and another value is current (then it is HISTORY);
 * for a functional attribute the value that was current goes to HISTORY
 * ("replaced_by" this value) and the evidence records what it replaced.
 * One audit record (ADD or UPDATE) and one history entry per change. res
 * may be NULL. */
PE_API pe_status pe_ps_upsert_attr(pe_ps_writer *w, const pe_ps_upsert *up, const pe_ps_evidence *ev,
                            pe_ps_upsert_result *res);

/* Why a retract, withhold or forget happened. Every field may be NULL. */
typedef struct pe_ps_cause {
    const char *rule;        /* fusion rule (vocabulary) */
    const char *reason;      /* short reason (vocabulary, kept in the audit log) */
    const char *message_id;  /* the message that caused it (digested in the audit log) */
    double message_time;
} pe_ps_cause;

/* Retracts `value` of `attribute` (value NULL: every CURRENT value of it):
 * state RETRACTED, one audit record and history entry each. *n (may be
 * NULL) is the number of values retracted; PE_NOT_FOUND when none was
 * current or in history (a retracted value is not retracted twice). A
 * later upsert with new evidence makes the value current again. */
PE_API pe_status pe_ps_retract(pe_ps_writer *w, const char *user, const char *attribute, const char *value,
                        const pe_ps_cause *why, size_t *n);

typedef struct pe_ps_withhold {
    const char *user;
    const char *attribute;
    const char *relation;    /* NULL = none */
    const char *value;       /* only a salted digest is kept */
    pe_ps_sensitivity sensitivity;
    pe_ps_cause why;         /* why.message_id required */
} pe_ps_withhold;

/* Records that a value was withheld (e.g. a GDPR Art. 9 category the
 * policy does not allow): nothing is stored as an attribute, evidence or
 * history; the audit log gets a WITHHOLD record naming the user by
 * reference, the attribute, relation, sensitivity, rule and reason, and
 * salted digests of the value and message id. Idempotent per (user,
 * attribute, value, message id): a repeat writes nothing and sets
 * *audit_seq (may be NULL) to 0. */
PE_API pe_status pe_ps_withhold_attr(pe_ps_writer *w, const pe_ps_withhold *in, uint64_t *audit_seq);

typedef struct pe_ps_forget_result {
    uint64_t records;    /* store records erased (user, attributes, evidence, history, ...) */
    uint64_t audit_seq;  /* the tombstone's audit record */
    int rebuilt;         /* 1 when the store was rebuilt (no freed page holds the user) */
} pe_ps_forget_result;

/* Erases `user`: the user record, attributes, evidence, history and
 * withhold index, in one transaction of its own that also appends a FORGET
 * audit record (the tombstone: the user's reference, the record count,
 * the reason). Then rebuilds the store (see "Forget and free pages").
 * Needs no writer open on this handle. res may be NULL. PE_NOT_FOUND when
 * the user is unknown (nothing written). PE_ERR_BUSY when the erasure is
 * committed but the rebuild could not run (another process has the store
 * open, or a reader of this handle is active): the store is marked
 * "rebuild pending" (pe_ps_stats), and pe_ps_rebuild or a later writable
 * open that finds itself alone runs it. */
PE_API pe_status pe_ps_forget(pe_ps *ps, const char *user, const char *reason, pe_ps_forget_result *res);
/* Rebuilds the store now (see above): PE_ERR_BUSY when it is not alone. */
PE_API pe_status pe_ps_rebuild(pe_ps *ps);

/* ---- Reading -------------------------------------------------------------- */

/* A read transaction: a consistent snapshot, never older than one an
 * earlier reader of the process saw, nor older than the last commit that
 * returned. Not shared between threads at the same time. PE_ERR_BUSY while
 * the handle is rebuilding. */
PE_API pe_status pe_ps_reader_begin(pe_ps *ps, pe_ps_reader **out);
/* Moves the snapshot to the newest commit; invalidates borrowed results. */
PE_API pe_status pe_ps_reader_renew(pe_ps_reader *r);
/* NULL is a no-op. */
PE_API void pe_ps_reader_end(pe_ps_reader *r);

/* Users in byte order of their ids: the first after `after` (NULL = the
 * first). *user is held by the reader: valid until the next
 * pe_ps_user_next on it, or its end. PE_DONE when there is no more. */
PE_API pe_status pe_ps_user_next(pe_ps_reader *r, const char *after, const char **user);

typedef struct pe_ps_attr {
    uint64_t id;               /* attribute id */
    const char *attribute;
    const char *relation;      /* NULL = none */
    const char *value;         /* normalised */
    const char *entity;        /* QID or NULL */
    double confidence;
    pe_ps_sensitivity sensitivity;
    int functional;
    pe_ps_state state;
    double first_seen, last_seen; /* message times of its evidence */
    double changed;            /* when it entered its state (store time, Unix seconds) */
    const char *replaced_by;   /* HISTORY: the value that replaced it, else NULL */
    size_t n_evidence;         /* number of evidence records */
    pe_ps_evidence *evidence;  /* in the order they were added; NULL without PE_PS_LIST_EVIDENCE */
} pe_ps_attr;

typedef struct pe_ps_attr_list {
    const char *user;
    size_t n;
    pe_ps_attr *attrs;         /* in the order they were created */
} pe_ps_attr_list;

#define PE_PS_LIST_HISTORY  1u /* also HISTORY and RETRACTED values (default: CURRENT only) */
#define PE_PS_LIST_EVIDENCE 2u /* fill the evidence arrays */

/* The attributes of `user` (only those named `attribute` unless NULL).
 * *out is malloc'd (one owner of every string and array in it); free it
 * with pe_ps_attr_list_free; it stays valid after the reader ends.
 * PE_NOT_FOUND (and *out NULL) for an unknown user; a known user with no
 * matching attribute gives an empty list. */
PE_API pe_status pe_ps_attributes(pe_ps_reader *r, const char *user, const char *attribute, unsigned flags,
                           pe_ps_attr_list **out);
PE_API void pe_ps_attr_list_free(pe_ps_attr_list *l);

/* One entry of a user's history. */
typedef struct pe_ps_change {
    uint64_t audit_seq;      /* the audit record of the same change */
    pe_ps_change_kind kind;  /* ADD, UPDATE or RETRACT */
    double time;             /* store time */
    const char *attribute;
    const char *value;       /* the value concerned */
    const char *old_value;   /* the value it replaced (functional), else NULL */
    pe_ps_state state;       /* the value's state after the change */
    double confidence;       /* after the change */
    const char *message_id;  /* the evidence or cause's message, NULL = none */
    const char *rule;        /* NULL = none */
    const char *reason;      /* NULL = none */
} pe_ps_change;

typedef struct pe_ps_history {
    size_t n;
    pe_ps_change *changes;   /* oldest first */
} pe_ps_history;

/* The history of `user` (only of `attribute` unless NULL). *out is
 * malloc'd as for pe_ps_attributes; free with pe_ps_history_free.
 * PE_NOT_FOUND for an unknown user. */
PE_API pe_status pe_ps_history_get(pe_ps_reader *r, const char *user, const char *attribute, pe_ps_history **out);
PE_API void pe_ps_history_free(pe_ps_history *h);

typedef struct pe_ps_stats {
    uint64_t users, attributes, evidence, history;
    uint64_t audit_records;
    int rebuild_pending;     /* a forget's rebuild has not run yet */
    uint64_t store_bytes;    /* used size of data.mdb (pages in use) */
} pe_ps_stats;
PE_API pe_status pe_ps_stats_get(pe_ps_reader *r, pe_ps_stats *out);

/* ---- Audit log -------------------------------------------------------------- */

/* The reference naming `user` in the audit log: SHA-256 over
 * "pe-ps-user" 0x00 and the id's bytes, as 64 hex digits and a NUL. */
PE_API void pe_ps_user_ref(const char *user, char hex[65]);

typedef struct pe_ps_audit_record {
    uint64_t seq;            /* 1, 2, ... */
    pe_ps_change_kind kind;
    pe_ps_sensitivity sensitivity;
    pe_ps_state state;       /* the value's state after the change (ADD/UPDATE/RETRACT) */
    double time;             /* store time, Unix seconds */
    double confidence;       /* after the change; NAN when not applicable */
    uint64_t count;          /* FORGET: records erased; else 0 */
    char hash[65];           /* this record's hash (hex) */
    char prev[65];           /* the previous record's hash (64 zeros for seq 1) */
    char user_ref[65];       /* pe_ps_user_ref of the user */
    char value_digest[65];   /* salted digests, "" when absent */
    char old_value_digest[65];
    char message_digest[65];
    const char *attribute;   /* borrowed until the reader ends or renews; "" when absent */
    const char *relation;
    const char *rule;
    const char *reason;
} pe_ps_audit_record;

/* Audit record number `seq`. PE_NOT_FOUND beyond the last. */
PE_API pe_status pe_ps_audit_get(pe_ps_reader *r, uint64_t seq, pe_ps_audit_record *out);

typedef struct pe_ps_verify_result {
    uint64_t records;        /* records checked */
    uint64_t bad_seq;        /* first bad record (0 when the log is sound) */
    char head[65];           /* hash of the last record ("" for an empty log): keep it
                                elsewhere to detect truncation by someone who also
                                rewrites the head */
} pe_ps_verify_result;

/* Walks the audit log of the reader's snapshot: sequence numbers 1, 2, ...
 * without gap, each record's prev equal to the hash before it, each hash
 * recomputed, and the last record equal to the stored head. PE_OK when
 * sound; PE_ERR_CORRUPT at the first altered, removed, inserted or
 * reordered record (out->bad_seq, and pe_ps_errmsg says what). out may
 * be NULL. */
PE_API pe_status pe_ps_audit_verify(pe_ps_reader *r, pe_ps_verify_result *out);

/* ---- Provenance export (W3C PROV-O) ----------------------------------------- */

typedef enum pe_ps_prov_format { PE_PS_PROV_TURTLE = 0, PE_PS_PROV_JSONLD = 1 } pe_ps_prov_format;

/* The provenance of the attributes of `user` (of `attribute` only unless
 * NULL; every state) as PROV-O, in Turtle or JSON-LD (the same graph):
 *   attribute value  a prov:Entity, pe:AttributeValue  (pe:user, pe:attribute,
 *                    pe:relation, pe:value, pe:entity, pe:confidence,
 *                    pe:state, pe:sensitivity, pe:firstSeen, pe:lastSeen)
 *   message          a prov:Entity, pe:Message (pe:messageId, pe:messageTime)
 *   evidence step    a prov:Activity, pe:Extraction (pe:rule, pe:method,
 *                    prov:endedAtTime, prov:used message and facts,
 *                    prov:wasAssociatedWith the model, a prov:SoftwareAgent)
 *   graph fact       a prov:Entity, pe:GraphFact (pe:subject, pe:predicate,
 *                    pe:object, pe:importSource, pe:dumpDate)
 *   value prov:wasDerivedFrom message; prov:wasGeneratedBy step;
 *   prov:qualifiedDerivation [ a prov:Derivation; prov:entity message;
 *     prov:hadActivity step; pe:relationScore, pe:nerScore, pe:linkScore,
 *     pe:spanStart, pe:spanEnd, pe:snippet, pe:replaced ].
 * pe: is <urn:persona:vocab#>; nodes are urn:persona: IRIs built from the
 * user reference and ids; Wikidata ids become wd: entity IRIs. *out is
 * malloc'd and NUL-terminated (caller frees); len may be NULL.
 * PE_NOT_FOUND for an unknown user. */
PE_API pe_status pe_ps_export_prov(pe_ps_reader *r, const char *user, const char *attribute, pe_ps_prov_format fmt,
                            char **out, size_t *len);

/* ---- Masking ---------------------------------------------------------------- */

/* Copies [s, s+len) with identifiers replaced: e-mail addresses by
 * "[email]", IPv4 addresses by "[ip]", IBANs by "[iban]", and numbers of
 * 7 or more digits (optionally a leading '+', digit groups separated by one
 * space, '-', '.', '/' or parentheses: phone, card and account numbers) by
 * "[number]" -- except dates (2024-01-31, 31/01/2024, 31.01.2024). Numbers
 * of fewer than 7 digits (ages, years, prices) stay. Other bytes pass
 * unchanged (UTF-8 stays UTF-8). Returns a malloc'd NUL-terminated string (caller frees) and its
 * length in *out_len (may be NULL), the number of replacements in
 * *n_masked (may be NULL); NULL when out of memory. */
PE_API char *pe_ps_mask_identifiers(const char *s, size_t len, size_t *out_len, size_t *n_masked);
/* 1 when the bytes [start, end) of s overlap an identifier that
 * pe_ps_mask_identifiers would mask (the fusion takes no attribute value
 * out of an e-mail address or a phone number), else 0. */
PE_API int pe_ps_overlaps_identifier(const char *s, size_t len, size_t start, size_t end);

/*
 * LMDB layout (version 1)
 * -----------------------
 * One LMDB environment (the directory: data.mdb, lock.mdb; beside them
 * pstore.lock, an empty file for the handles' locks), opened with
 * MDB_NOTLS. Integers in keys and values are big-endian (memcmp order is
 * numeric order); doubles are IEEE-754 bit patterns, big-endian. Strings
 * inside values end with a NUL; an absent string is "" (its presence
 * bit, where there is one, says NULL). uid, aid: u64 ids from counters
 * in meta, never reused. d16 is the first 16 bytes of a SHA-256.
 *
 * database  key                          value
 * meta      "layout_version"             u32 = 1
 *           "next_uid", "next_aid"       u64
 *           "audit_head"                 seq u64, hash[32] (absent: empty log)
 *           "rebuild_pending"            u8 = 1 (absent when none)
 *           "snapshot_txn"               u64: the LMDB id of the last commit that wrote
 *                                        (readers check it; not copied by a rebuild)
 * user      user id (bytes)              version(1) = 1, 0(7), uid u64, created f64,
 *                                        salt[32] (random; destroyed by forget)
 * attr      uid, aid                     attribute record (1)
 * attr_idx  uid, attribute\0,            aid u64
 *           d16(normalised value)
 * evidence  uid, aid, eseq u32           evidence record (2)
 * ev_idx    uid, aid, d16(message id)    eseq u32
 * history   uid, audit seq u64           history record (3)
 * withheld  uid, d16(attribute\0         audit seq u64
 *           normalised value\0
 *           message id)
 * audit     seq u64                      audit record (4)
 *
 * (1) version(1) = 1, state(1), sensitivity(1), flags(1: bit0 functional,
 *     bit1 relation, bit2 entity, bit3 replaced_by present), 0(4),
 *     confidence f64, first_seen f64, last_seen f64, changed f64,
 *     n_evidence u32, next_eseq u32, then attribute\0 relation\0 value\0
 *     entity\0 replaced_by\0.
 * (2) version(1) = 1, method(1), flags(1: bit0 snippet, bit1 model_id,
 *     bit2 model_version, bit3 entity, bit4 rule, bit5 replaced present),
 *     n_facts(1), span_start u32, span_end u32, message_time f64,
 *     recorded f64, relation_score f64, ner_score f64, link_score f64
 *     (NaN when absent), then message_id\0 snippet\0 model_id\0
 *     model_version\0 entity\0 rule\0 replaced\0, then per fact
 *     subject\0 predicate\0 object\0 source\0 dump_date\0.
 * (3) version(1) = 1, kind(1), state(1), flags(1: bit0 old_value,
 *     bit1 message_id, bit2 rule, bit3 reason present), 0(4), time f64,
 *     confidence f64, then attribute\0 value\0 old_value\0 message_id\0
 *     rule\0 reason\0.
 * (4) Audit record, 220 bytes then strings:
 *       0  hash[32]        SHA-256 over "pe-ps-audit-1" (13 bytes), the seq
 *                          (u64), and bytes 32..end of this record
 *      32  prev[32]        hash of record seq-1; zeros for seq 1
 *      64  version(1) = 1, kind(1) (pe_ps_change_kind), sensitivity(1),
 *          state(1)
 *      68  time f64        store time, Unix seconds
 *      76  confidence f64  NaN when not applicable
 *      84  count u64       FORGET: records erased
 *      92  user_ref[32]    SHA-256("pe-ps-user" 0x00 user id)
 *     124  value[32]       SHA-256(salt, value) or zeros
 *     156  old_value[32]   SHA-256(salt, replaced value) or zeros
 *     188  message[32]     SHA-256(salt, message id) or zeros
 *     220  attribute\0 relation\0 rule\0 reason\0
 *     The log is append-only: records are never rewritten or deleted,
 *     forget included; "audit_head" names the last one, so that removing
 *     records at the end is seen too.
 *
 * Opening checks "layout_version": an LMDB environment without it (other
 * data) gives PE_ERR_CORRUPT, a higher version PE_ERR_UNSUPPORTED, both
 * before anything is written.
 */

#ifdef __cplusplus
}
#endif
#endif
