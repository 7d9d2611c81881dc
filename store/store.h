/* store.h: the LMDB store: connection registry, batched writes, startup sweep, listing. */
#ifndef PORTICO_STORE_STORE_H
#define PORTICO_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One LMDB environment per process (DESIGN section 3), opened with MDB_NOTLS | MDB_NOSYNC:
 * the registry describes live connections of running processes, so a process crash loses
 * nothing that was committed (pages are in the OS cache) and only a machine crash could roll
 * it back, when every connection is gone anyway.
 *
 * Files: DIR/registry/data.mdb and lock.mdb. The directory is created when missing.
 *
 * Caveats (as lmdb.h's):
 *   - Never open the same directory twice in one process; never use a store after fork().
 *   - Write batches serialise on LMDB's writer lock; keep them short (one per loop turn).
 *   - store_maintain() clears reader slots left by killed processes; call it every few seconds.
 *
 * Thread safety: a store_t may be used from any number of threads at once. A store_batch_t
 * belongs to one thread.
 *
 * Errors: LMDB's codes are translated here. Besides the codes each function lists, any call
 * that begins a transaction may return PT_EBUSY when every reader slot is taken.
 */

typedef struct store store_t;
typedef struct store_batch store_batch_t;

#define STORE_ID_LEN 16 /* connection ids are 16 characters */

/* Limits of a record's strings, in bytes without the NUL. A put beyond them is refused
 * (PT_EINVAL) and a stored record beyond them does not decode (PT_EPARSE). */
#define STORE_API_ID_MAX    64
#define STORE_STAGE_MAX     128
#define STORE_SOURCE_IP_MAX 64
#define STORE_DOMAIN_MAX    255
#define STORE_STR_MAX       8192 /* user_agent, authorizer_json, extra_json */

/*
 * A registry record. The strings are owned by the record (store_conn_clear frees them); when a
 * record is passed *in* (put), the store copies what it needs and owns nothing of it.
 */
typedef struct store_conn {
    char id[STORE_ID_LEN + 1];
    uint8_t node;
    uint8_t worker;
    uint64_t epoch;          /* incarnation of the process that owns the connection */
    int64_t connected_at_ms; /* unix ms */
    int64_t last_active_at_ms;
    char *api_id;
    char *stage;
    char *source_ip;
    char *user_agent;      /* NULL when the client sent none */
    char *domain_name;     /* Host the client connected to */
    char *authorizer_json; /* requestContext.authorizer as JSON text, NULL when none */
    char *extra_json;      /* room for later fields (JSON object text), NULL when none */
} store_conn_t;

typedef struct store_opts {
    const char *dir;      /* data directory */
    bool read_only;       /* for the CLI while a gateway runs */
    size_t map_size;      /* initial map size in bytes; 0 = 64 MiB */
    size_t max_map_size;  /* growth limit on MDB_MAP_FULL; 0 = 4 GiB */
    unsigned max_readers; /* 0 = 126 */
} store_opts_t;

/* Opens (creating when needed) the store. Runs mdb_reader_check once. Returns PT_OK, PT_EIO,
 * PT_EINVAL, or PT_ENOTFOUND (read_only and there is no registry in dir). On failure *out is
 * NULL and, when errbuf is given, errbuf holds a reason (with the path and LMDB's text). */
int store_open(const store_opts_t *opts, store_t **out, char *errbuf, size_t errlen);
void store_close(store_t *st);

/* Clears stale reader slots; returns how many were cleared (>= 0) or a negative code. */
int store_maintain(store_t *st);

/* Sizes for metrics and tests. Returns PT_OK or PT_EIO. */
typedef struct store_info {
    size_t map_size;       /* current map size in bytes */
    size_t max_map_size;   /* growth limit */
    size_t used_bytes;     /* pages in use in the data file, in bytes */
    unsigned reader_slots; /* reader slots ever used (high-water mark, all processes) */
    unsigned max_readers;
} store_info_t;
int store_info(store_t *st, store_info_t *out);

/* --- writes, batched ---------------------------------------------------------------------- */

/* A batch collects puts and deletes in memory without taking LMDB's lock; commit applies them in
 * one write transaction. */
store_batch_t *store_batch_new(void);
void store_batch_free(store_batch_t *b);
/* Number of operations queued. */
size_t store_batch_len(const store_batch_t *b);
/* Queues a put of the record (encoded now, so the record may change or go right after). A put
 * of an id that exists fails at commit for that id only (see store_batch_commit). Returns PT_OK,
 * or PT_EINVAL and queues nothing when the record breaks the limits above: id not 1 to
 * STORE_ID_LEN characters, api_id, stage, source_ip or domain_name NULL, a string too long. */
int store_batch_put(store_batch_t *b, const store_conn_t *rec);
/* Queues an update of last_active_at_ms (no-op if the record is gone at commit). An id that no
 * record can have (NULL, empty, longer than STORE_ID_LEN) queues nothing. */
void store_batch_touch(store_batch_t *b, const char *id, int64_t last_active_at_ms);
/* Queues a delete (no-op if absent; an id no record can have queues nothing). */
void store_batch_del(store_batch_t *b, const char *id);

/*
 * Applies the batch in one write transaction, in order, then empties it. A put whose id already
 * exists is skipped and reported through `dup_cb` (may be NULL) so the caller can pick another
 * id; the rest of the batch still commits. On MDB_MAP_FULL the map grows (doubling up to
 * max_map_size) and the transaction is retried. Returns PT_OK, PT_EMAPFULL (the limit was hit:
 * no put or touch of this batch was written, but its deletes were, so a full registry can still
 * shrink, and its outbox entries when they fit), or PT_EIO. What is left after dropping the
 * puts may use a reserve past max_map_size (1/8 of it, 1 to 64 MiB), because LMDB needs free
 * pages even to delete; the same holds for the start-up sweeps.
 *
 * Also PT_EINVAL on a read-only store, PT_EBUSY when called from inside a store_conn_cb (that
 * thread holds a transaction; nothing is written), PT_ETOOBIG when the batch is too large for
 * one transaction (MDB_TXN_FULL; nothing is written). The batch is emptied whatever the
 * result. dup_cb runs after the transaction has ended and the batch was emptied, so it may
 * queue a new put into the same batch (for the next commit) or call any store function.
 */
typedef void (*store_dup_cb)(void *ctx, const char *id);
int store_batch_commit(store_t *st, store_batch_t *b, store_dup_cb dup_cb, void *ctx);

/* --- reads ---------------------------------------------------------------------------------- */

/* Reads one record. Returns PT_OK (caller must store_conn_clear(rec)), PT_ENOTFOUND (also for
 * an id no record can have), PT_EIO, or PT_EPARSE (the stored record is corrupt). rec is
 * overwritten, and zeroed on failure. */
int store_conn_get(store_t *st, const char *id, store_conn_t *rec);
void store_conn_clear(store_conn_t *rec);

/* Counts records. Returns PT_OK or PT_EIO. */
int store_conn_count(store_t *st, uint64_t *count);

/*
 * Walks records in id order, starting after `after_id` (NULL or "" for the start), calling cb
 * for each until cb returns non-zero or `limit` records were passed (0 = no limit). The record
 * is only valid during the call. Returns PT_OK or PT_EIO (PT_EINVAL when after_id is longer
 * than STORE_ID_LEN).
 *
 * cb runs inside a read transaction: keep it short (a long one pins old pages, and a map
 * resize in this process waits for it). It may call get, count and iter; commit and sweep
 * return PT_EBUSY there. Records that do not decode are skipped and not counted in `limit`.
 */
typedef int (*store_conn_cb)(void *ctx, const store_conn_t *rec);
int store_conn_iter(store_t *st, const char *after_id, size_t limit, store_conn_cb cb, void *ctx);

/*
 * Startup sweep: removes every record of `node` whose epoch differs from `epoch` (connections of
 * an earlier run of this node, which no longer exist), calling cb for each before it is deleted
 * so the caller can fire $disconnect. Returns the number removed (>= 0) or a negative code
 * (PT_EIO, PT_EMAPFULL, PT_EINVAL on a read-only store, PT_EBUSY inside a store_conn_cb).
 *
 * The walk commits every few thousand records so no transaction stays long. cb runs inside
 * the write transaction that deletes the record, so a crash before that commit reports the
 * record again at the next start (at least once), as does a chunk retried after map growth.
 * cb may read the store but not write it. A non-zero return stops the sweep: that record is
 * kept, those removed before it stay removed. Records that do not decode are kept.
 */
int store_sweep(store_t *st, uint8_t node, uint64_t epoch, store_conn_cb cb, void *ctx);

/* --- $disconnect outbox -------------------------------------------------------------------------
 *
 * "$disconnect is owed for connection X, with this event data". The gateway queues an entry in
 * the same batch as X's registry delete (so both land in one transaction), deletes it once the
 * integration has answered or its retries are spent, and replays what is left at start-up. A
 * crash between a close and its $disconnect therefore loses nothing: the entry (or, before the
 * close was committed, the registry record, which the start-up sweep turns into an entry) is
 * still there. Delivery is at least once.
 */

#define STORE_OUTBOX_REASON_MAX 123 /* a close frame's reason */
#define STORE_OUTBOX_RID_MAX    64

typedef struct store_outbox {
    store_conn_t conn;    /* the connection as the registry had it; conn.id is the key */
    int close_code;       /* disconnectStatusCode, 0..65535 */
    char *close_reason;   /* disconnectReason; "" or NULL for none; <= STORE_OUTBOX_REASON_MAX */
    char *request_id;     /* the first attempt's requestId (retries reuse it), NULL for none */
    int64_t closed_at_ms; /* unix ms */
    unsigned attempts;    /* failed attempts so far, 0..255 */
} store_outbox_t;

/* Queues a put of the entry (encoded now; an existing entry for the id is replaced). Returns
 * PT_OK, or PT_EINVAL and queues nothing when conn breaks the record limits (see
 * store_batch_put) or a field is out of range. */
int store_batch_outbox_put(store_batch_t *b, const store_outbox_t *e);
/* Queues a delete of the entry (no-op if absent). */
void store_batch_outbox_del(store_batch_t *b, const char *id);

/* One entry. PT_OK (caller clears e with store_outbox_clear), PT_ENOTFOUND, PT_EPARSE, PT_EIO. */
int store_outbox_get(store_t *st, const char *id, store_outbox_t *e);
/* Counts entries. PT_OK or PT_EIO. */
int store_outbox_count(store_t *st, uint64_t *count);
/* Walks entries in id order after `after_id` (NULL or "" for the start), at most `limit` (0 = no
 * limit), until cb returns non-zero; the entry is only valid during the call and cb runs inside
 * a read transaction (same rules as store_conn_iter). Entries that do not decode are skipped.
 * Returns PT_OK, PT_EIO, PT_EINVAL. */
typedef int (*store_outbox_cb)(void *ctx, const store_outbox_t *e);
int store_outbox_iter(store_t *st, const char *after_id, size_t limit, store_outbox_cb cb,
                      void *ctx);
/* Deletes one entry in its own transaction, for a thread without a batch. Same returns as
 * store_batch_commit. */
int store_outbox_del(store_t *st, const char *id);

/* Startup sweep into the outbox: as store_sweep, but each stale record is also written as an
 * outbox entry (close_code, reason "", no request id, closed at now_ms) in the transaction that
 * deletes it, so the $disconnect it is owed survives a crash during the start-up too. */
int store_sweep_outbox(store_t *st, uint8_t node, uint64_t epoch, int close_code, int64_t now_ms,
                       store_conn_cb cb, void *ctx);

/* Encodes / decodes an entry (layout in outbox.c), exposed for tests and fuzzing; the same
 * contract as store_conn_encode / store_conn_decode. */
int store_outbox_encode(const store_outbox_t *e, char **out, size_t *out_len);
int store_outbox_decode(const char *id, const void *data, size_t len, store_outbox_t *e);
void store_outbox_clear(store_outbox_t *e);

/* Encodes / decodes a record (positional msgpack array with a version first), exposed for tests
 * and fuzzing. decode returns PT_OK or PT_EPARSE; rec owns its strings on success and is
 * zeroed on failure; id (NULL for none) is the key the record was stored under, it is not part
 * of the bytes. encode ignores rec->id; it returns PT_OK, *out (caller frees with free()) and
 * *out_len, or PT_EINVAL when the record breaks the limits (see store_batch_put). */
int store_conn_encode(const store_conn_t *rec, char **out, size_t *out_len);
int store_conn_decode(const char *id, const void *data, size_t len, store_conn_t *rec);

/* --- usage-plan quota counters (quota.c, issue 7) ------------------------------------------ */

/* A counter: requests counted in the window that starts at window_start (unix seconds). */
typedef struct store_quota {
    int64_t window_start;
    uint64_t used;
} store_quota_t;

#define STORE_QUOTA_LEN     17  /* encoded size */
#define STORE_QUOTA_KEY_MAX 256 /* "PLANID/KEYID" */

/* Reads the counter stored under key (1 to STORE_QUOTA_KEY_MAX bytes). Returns PT_OK,
 * PT_ENOTFOUND (never counted: *out zeroed), PT_EINVAL (bad key), PT_EPARSE, PT_EIO. */
int store_quota_get(store_t *st, const char *key, store_quota_t *out);
/* Writes n counters in one write transaction (growing the map on MDB_MAP_FULL). Returns PT_OK,
 * PT_EINVAL (read-only store, bad key), PT_EBUSY (inside a store callback), PT_EMAPFULL,
 * PT_EIO. */
int store_quota_put(store_t *st, const char *const *keys, const store_quota_t *vals, size_t n);
/* The record codec, exposed for tests and fuzzing: decode returns PT_OK or PT_EPARSE. */
int store_quota_encode(const store_quota_t *q, uint8_t out[STORE_QUOTA_LEN]);
int store_quota_decode(const void *data, size_t len, store_quota_t *q);

#endif
