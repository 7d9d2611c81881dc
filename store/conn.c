/* conn.c: reading the connection registry (get, count, iter) and the startup sweep. */
#include "common/err.h"
#include "common/mem.h"
#include "store/store_internal.h"

#include <limits.h>
#include <string.h>

/* LMDB's default key size limit (mdb_env_get_maxkeysize), plus one. */
#define KEY_MAX 512

/* A key a record can have, and a record that decodes: the view and true, else false. */
static bool parse_entry(const MDB_val *key, const MDB_val *val, store_view_t *v)
{
    return key->mv_size >= 1 && key->mv_size <= STORE_ID_LEN &&
           store__view_parse(val->mv_data, val->mv_size, v) == PT_OK;
}

int store_conn_get(store_t *st, const char *id, store_conn_t *rec)
{
    MDB_txn *txn;
    MDB_val key, val;
    store_view_t v;
    size_t id_len = store__id_len(id);
    int rc, mrc;

    memset(rec, 0, sizeof *rec);
    if (!id_len)
        return PT_ENOTFOUND;
    rc = store__txn_begin(st, MDB_RDONLY, &txn, NULL);
    if (rc != PT_OK)
        return rc;
    key.mv_size = id_len;
    key.mv_data = (void *)id;
    mrc = mdb_get(txn, st->conns, &key, &val);
    if (mrc != MDB_SUCCESS)
        rc = store__mdb_err(mrc);
    else if (store__view_parse(val.mv_data, val.mv_size, &v) != PT_OK)
        rc = PT_EPARSE;
    else /* copies out of the page, which is only valid until the txn ends */
        store__view_to_conn(&v, id, id_len, rec, NULL);
    store__txn_end(st, txn, false);
    return rc;
}

int store_conn_count(store_t *st, uint64_t *count)
{
    MDB_txn *txn;
    MDB_stat ms;
    int rc, mrc;

    *count = 0;
    rc = store__txn_begin(st, MDB_RDONLY, &txn, NULL);
    if (rc != PT_OK)
        return rc;
    mrc = mdb_stat(txn, st->conns, &ms);
    if (mrc == MDB_SUCCESS)
        *count = ms.ms_entries;
    store__txn_end(st, txn, false);
    return store__mdb_err(mrc);
}

/* Puts the cursor on the first key strictly after `after` (or the first key). */
static int seek_after(MDB_cursor *cur, const char *after, size_t after_len, MDB_val *key,
                      MDB_val *val)
{
    int mrc;
    if (!after_len)
        return mdb_cursor_get(cur, key, val, MDB_FIRST);
    key->mv_size = after_len;
    key->mv_data = (void *)after;
    mrc = mdb_cursor_get(cur, key, val, MDB_SET_RANGE);
    if (mrc == MDB_SUCCESS && key->mv_size == after_len && !memcmp(key->mv_data, after, after_len))
        mrc = mdb_cursor_get(cur, key, val, MDB_NEXT);
    return mrc;
}

int store_conn_iter(store_t *st, const char *after_id, size_t limit, store_conn_cb cb, void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    store_view_t v;
    store_conn_t rec;
    buf_t arena = BUF_INIT; /* owned: the strings of the record passed to cb */
    size_t after_len = after_id ? strnlen(after_id, STORE_ID_LEN + 1) : 0;
    size_t passed = 0;
    int rc, mrc;

    if (!cb || after_len > STORE_ID_LEN)
        return PT_EINVAL;
    rc = store__txn_begin(st, MDB_RDONLY, &txn, NULL);
    if (rc != PT_OK)
        return rc;
    mrc = mdb_cursor_open(txn, st->conns, &cur);
    if (mrc != MDB_SUCCESS)
        goto out;
    for (mrc = seek_after(cur, after_id, after_len, &key, &val); mrc == MDB_SUCCESS;
         mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (!parse_entry(&key, &val, &v))
            continue;
        store__view_to_conn(&v, key.mv_data, key.mv_size, &rec, &arena);
        passed++;
        if (cb(ctx, &rec) != 0 || (limit && passed == limit))
            break;
    }
    if (mrc == MDB_NOTFOUND)
        mrc = MDB_SUCCESS;
out:
    /* a read-only txn's cursor must be closed explicitly */
    if (cur)
        mdb_cursor_close(cur);
    store__txn_end(st, txn, false);
    buf_free(&arena);
    rc = store__mdb_err(mrc);
    return rc == PT_OK || rc == PT_EBUSY ? rc : PT_EIO;
}

/* --- sweep --------------------------------------------------------------------------------- */

typedef struct sweep {
    uint8_t node;
    uint64_t epoch;
    store_conn_cb cb;
    void *ctx;
    buf_t arena;        /* owned: strings of the record passed to cb */
    char last[KEY_MAX]; /* resume after this key (the last one examined) */
    size_t last_len;    /* 0: from the start */
    size_t removed;     /* in this chunk */
    bool done;          /* the walk reached the end or cb stopped it */
    bool to_outbox;     /* store_sweep_outbox: each removed record becomes an outbox entry */
    int close_code;
    int64_t now_ms;
    buf_t obox; /* owned: the entry being written */
} sweep_t;

/* Walks up to STORE_SWEEP_CHUNK records after sw->last in one write transaction, reporting and
 * deleting the stale ones. Returns an LMDB code; the caller commits or aborts. */
static int sweep_chunk(store_t *st, MDB_txn *txn, sweep_t *sw)
{
    MDB_cursor *cur;
    MDB_val key, val;
    store_view_t v;
    store_conn_t rec;
    size_t scanned = 0;
    int mrc = mdb_cursor_open(txn, st->conns, &cur);
    if (mrc != MDB_SUCCESS)
        return mrc;
    for (mrc = seek_after(cur, sw->last, sw->last_len, &key, &val); mrc == MDB_SUCCESS;
         mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (scanned++ == STORE_SWEEP_CHUNK)
            goto out;
        if (key.mv_size > sizeof sw->last) { /* cannot happen: LMDB's key limit */
            mrc = MDB_BAD_VALSIZE;
            goto out;
        }
        memcpy(sw->last, key.mv_data, key.mv_size);
        sw->last_len = key.mv_size;
        if (!parse_entry(&key, &val, &v) || v.node != sw->node || v.epoch == sw->epoch)
            continue;
        if (sw->cb) {
            store__view_to_conn(&v, key.mv_data, key.mv_size, &rec, &sw->arena);
            if (sw->cb(sw->ctx, &rec) != 0) {
                sw->done = true;
                mrc = MDB_SUCCESS;
                goto out;
            }
        }
        if (sw->to_outbox) {
            /* Written before the delete, while v still points at a valid page. */
            MDB_val ov;
            buf_reset(&sw->obox);
            if (store__outbox_encode(&v, sw->close_code, "", NULL, sw->now_ms, 0, &sw->obox) !=
                PT_OK)
                continue; /* cannot happen: v parsed, so it is within the limits */
            ov.mv_size = sw->obox.len;
            ov.mv_data = sw->obox.p;
            mrc = mdb_put(txn, st->outbox, &key, &ov, 0);
            if (mrc != MDB_SUCCESS)
                goto out;
        }
        /* After a cursor delete, MDB_NEXT returns the record that followed the deleted one. */
        mrc = mdb_cursor_del(cur, 0);
        if (mrc != MDB_SUCCESS)
            goto out;
        sw->removed++;
    }
    if (mrc == MDB_NOTFOUND) {
        sw->done = true;
        mrc = MDB_SUCCESS;
    }
out:
    mdb_cursor_close(cur);
    return mrc;
}

static int sweep(store_t *st, sweep_t *sw_in);

int store_sweep(store_t *st, uint8_t node, uint64_t epoch, store_conn_cb cb, void *ctx)
{
    sweep_t sw = {.node = node, .epoch = epoch, .cb = cb, .ctx = ctx, .arena = BUF_INIT};
    return sweep(st, &sw);
}

int store_sweep_outbox(store_t *st, uint8_t node, uint64_t epoch, int close_code, int64_t now_ms,
                       store_conn_cb cb, void *ctx)
{
    sweep_t sw = {.node = node,
                  .epoch = epoch,
                  .cb = cb,
                  .ctx = ctx,
                  .arena = BUF_INIT,
                  .to_outbox = true,
                  .close_code = close_code,
                  .now_ms = now_ms,
                  .obox = BUF_INIT};
    if (close_code < 0 || close_code > 65535)
        return PT_EINVAL;
    return sweep(st, &sw);
}

static int sweep(store_t *st, sweep_t *swp)
{
    sweep_t sw = *swp;
    size_t removed = 0;
    bool reserved = false;
    int rc = PT_OK;

    if (st->read_only)
        return PT_EINVAL;
    if (store__hold_depth())
        return PT_EBUSY;
    while (!sw.done) {
        MDB_txn *txn;
        size_t seen;
        char start[sizeof sw.last]; /* a chunk that fails is replayed from here */
        size_t start_len = sw.last_len;
        int mrc;
        memcpy(start, sw.last, start_len);
        rc = store__txn_begin(st, 0, &txn, &seen);
        if (rc != PT_OK)
            goto out;
        sw.removed = 0;
        mrc = sweep_chunk(st, txn, &sw);
        if (mrc == MDB_SUCCESS)
            mrc = store__txn_end(st, txn, true);
        else
            store__txn_end(st, txn, false);
        if (mrc == MDB_SUCCESS) {
            removed += sw.removed;
            continue;
        }
        if (mrc != MDB_MAP_FULL) {
            rc = store__mdb_err(mrc);
            goto out;
        }
        /* Deleting copies pages too. Grow and replay the chunk (cb sees its records again). */
        rc = store__grow(st, seen);
        if (rc == PT_EMAPFULL && !reserved) { /* a sweep only shrinks the registry */
            rc = store__grow_reserve(st, seen);
            reserved = rc == PT_OK;
        }
        if (rc != PT_OK)
            goto out;
        memcpy(sw.last, start, start_len);
        sw.last_len = start_len;
        sw.done = false;
    }
out:
    if (reserved)
        store__unreserve(st);
    buf_free(&sw.arena);
    buf_free(&sw.obox);
    if (rc != PT_OK)
        return rc;
    return removed > INT_MAX ? INT_MAX : (int)removed;
}
