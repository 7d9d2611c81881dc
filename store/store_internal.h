/* store_internal.h: private parts of store/: the handle, the record codec, transaction helpers. */
#ifndef PORTICO_STORE_STORE_INTERNAL_H
#define PORTICO_STORE_STORE_INTERNAL_H

#include "common/buf.h"
#include "store/store.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Locking. mdb_env_set_mapsize() may only run while no transaction of this process is active,
 * and LMDB does not check that. Every transaction therefore holds st->lock shared from begin
 * to commit/abort, and growing the map (or adopting another process's growth, after
 * MDB_MAP_RESIZED) takes it exclusive. The lock prefers readers so that a thread may nest a
 * read inside a store callback (a recursive rdlock); a thread that holds it shared never asks
 * for it exclusive (store__hold_depth() says so, and those paths return PT_EBUSY).
 */
struct store {
    MDB_env *env;    /* owned; mdb_env_close in store_close */
    MDB_dbi conns;   /* connection id -> record */
    MDB_dbi outbox;  /* connection id -> $disconnect owed (outbox.c) */
    bool has_outbox; /* false only on a read-only handle to a registry older than the outbox */
    MDB_dbi quota;   /* usage-plan quota counters (quota.c, issue 7) */
    bool has_quota;  /* false only on a read-only handle to a store older than quotas */
    bool read_only;
    pthread_rwlock_t lock;
    size_t map_size; /* current size: read with lock shared, written with it exclusive */
    size_t max_map_size;
};

/* --- records ------------------------------------------------------------------------------- */

#define STORE_REC_VERSION 1
#define STORE_REC_FIELDS  13 /* array length of version 1 */

enum {
    STORE_S_API_ID,
    STORE_S_STAGE,
    STORE_S_SOURCE_IP,
    STORE_S_USER_AGENT,
    STORE_S_DOMAIN,
    STORE_S_AUTHORIZER,
    STORE_S_EXTRA,
    STORE_S_COUNT
};

/* A string slice; p == NULL means nil (an absent optional field). */
typedef struct store_str {
    const char *p;
    size_t len;
} store_str_t;

/* A record as slices into someone else's bytes (an LMDB page, a caller's buffer): decoding into
 * a view allocates nothing, and a view can be re-encoded as is (touch does that). */
typedef struct store_view {
    uint8_t node;
    uint8_t worker;
    uint64_t epoch;
    int64_t connected_at_ms;
    int64_t last_active_at_ms;
    store_str_t s[STORE_S_COUNT];
} store_view_t;

/* Parses one encoded record into v, strictly: PT_OK or PT_EPARSE. v points into data. */
int store__view_parse(const void *data, size_t len, store_view_t *v);
/* Appends the encoding of v to out. PT_OK, or PT_EINVAL when v breaks the limits. */
int store__view_encode(const store_view_t *v, buf_t *out);
/* A view of rec's fields (no copy). PT_OK, or PT_EINVAL for a NULL required field. */
int store__view_of(const store_conn_t *rec, store_view_t *v);
/* Fills rec from v and the key (id, id_len <= STORE_ID_LEN). With arena == NULL every string
 * is malloc'ed (store_conn_clear frees them); otherwise they are copied into arena (reset
 * first) and live as long as it is unchanged, and rec must not be cleared. */
void store__view_to_conn(const store_view_t *v, const char *id, size_t id_len, store_conn_t *rec,
                         buf_t *arena);

/* Length of id when it is one a record can have (1 to STORE_ID_LEN chars), else 0. */
size_t store__id_len(const char *id);

/* --- outbox entries (outbox.c) -------------------------------------------------------------- */

/* An outbox entry as slices into its bytes. */
typedef struct store_outbox_view {
    unsigned attempts;
    int code;
    int64_t closed_at_ms;
    store_str_t reason;     /* never NULL (may be empty) */
    store_str_t request_id; /* p == NULL: none */
    store_view_t rec;
} store_outbox_view_t;

/* Appends the encoding of an entry for record v. PT_OK, or PT_EINVAL when a field breaks the
 * limits (nothing appended then). */
int store__outbox_encode(const store_view_t *v, int code, const char *reason,
                         const char *request_id, int64_t closed_at_ms, unsigned attempts,
                         buf_t *out);
/* Parses an entry strictly: PT_OK or PT_EPARSE. o points into data. */
int store__outbox_parse(const void *data, size_t len, store_outbox_view_t *o);

/* --- transactions ---------------------------------------------------------------------------- */

/* Translates an LMDB (or errno) code to a PT_E* code. */
int store__mdb_err(int rc);

/* How many transactions of any store this thread holds right now. */
unsigned store__hold_depth(void);

/* Begins a transaction (flags 0 or MDB_RDONLY) holding st->lock shared, adopting a map grown
 * by another process on the way. *map_size (may be NULL) receives the map size the transaction
 * runs with. Returns PT_OK or a PT_E* code; on failure nothing is held. */
int store__txn_begin(store_t *st, unsigned flags, MDB_txn **txn, size_t *map_size);
/* Ends the transaction: commits when commit is true (returning the raw LMDB code, so callers
 * can see MDB_MAP_FULL), aborts otherwise (returns 0); releases st->lock. */
int store__txn_end(store_t *st, MDB_txn *txn, bool commit);
/* After MDB_MAP_FULL at map size `seen`: doubles the map up to max_map_size unless another
 * thread already grew it. PT_OK (retry), PT_EMAPFULL, PT_EBUSY, PT_EIO. */
int store__grow(store_t *st, size_t seen);

/* After PT_EMAPFULL from store__grow, for a write that only deletes (and records the
 * $disconnects owed for what it deletes): maps up to max_map_size plus a reserve (1/8 of it,
 * 1 to 64 MiB) so the registry can always shrink. PT_OK (retry), PT_EMAPFULL (the reserve is
 * used up too), PT_EBUSY, PT_EIO. Callers undo it with store__unreserve once committed. */
int store__grow_reserve(store_t *st, size_t seen);
/* Maps the store back down to max_map_size (or to what is in use, when more). */
void store__unreserve(store_t *st);

/* Records a sweep walks per write transaction. */
#define STORE_SWEEP_CHUNK 4096

#endif
