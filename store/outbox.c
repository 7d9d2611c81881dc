/* outbox.c: the $disconnect outbox: entries written with the registry delete, replayed at start. */
#include "common/err.h"
#include "common/mem.h"
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

/*
 * An entry says "$disconnect is owed for connection X, with this event data". It is written in
 * the transaction that deletes X's registry record (a batch holds both), and deleted once the
 * integration has answered or the retries are spent, so a crash anywhere between the close and
 * the answer leaves the entry behind for the next start to replay.
 *
 * Value layout (big-endian), strictly checked when read:
 *   byte 0        version (1)
 *   byte 1        failed attempts so far
 *   bytes 2-3     close code (disconnectStatusCode)
 *   bytes 4-11    closed_at_ms (signed)
 *   byte 12       R: reason length (0..STORE_OUTBOX_REASON_MAX)
 *   byte 13       Q: request id length (0..STORE_OUTBOX_RID_MAX; 0 = none)
 *   R bytes       the reason (no NUL)
 *   Q bytes       the request id (no NUL)
 *   the rest      the connection's registry record, in the registry's own encoding (codec.c)
 */

#define OUTBOX_VERSION 1
#define HDR_LEN        14

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Length of s when it fits in max bytes (NULL is ""), or SIZE_MAX. */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max + 1) : 0;
    return n > max ? SIZE_MAX : n;
}

int store__outbox_encode(const store_view_t *v, int code, const char *reason,
                         const char *request_id, int64_t closed_at_ms, unsigned attempts,
                         buf_t *out)
{
    size_t rl = bounded_len(reason, STORE_OUTBOX_REASON_MAX);
    size_t ql = bounded_len(request_id, STORE_OUTBOX_RID_MAX);
    uint8_t h[HDR_LEN];
    uint64_t at;
    size_t start = out->len;
    int rc;
    if (rl == SIZE_MAX || ql == SIZE_MAX || code < 0 || code > 65535 || attempts > 255)
        return PT_EINVAL;
    h[0] = OUTBOX_VERSION;
    h[1] = (uint8_t)attempts;
    put_be(h + 2, (uint64_t)code, 2);
    memcpy(&at, &closed_at_ms, sizeof at);
    put_be(h + 4, at, 8);
    h[12] = (uint8_t)rl;
    h[13] = (uint8_t)ql;
    buf_append(out, h, sizeof h);
    buf_append(out, reason ? reason : "", rl);
    buf_append(out, request_id ? request_id : "", ql);
    rc = store__view_encode(v, out);
    if (rc != PT_OK)
        out->len = start; /* nothing appended on failure */
    return rc;
}

int store__outbox_parse(const void *data, size_t len, store_outbox_view_t *o)
{
    const uint8_t *p = data;
    size_t rl, ql;
    uint64_t at;
    if (!data || len < HDR_LEN || p[0] != OUTBOX_VERSION)
        return PT_EPARSE;
    rl = p[12];
    ql = p[13];
    if (rl > STORE_OUTBOX_REASON_MAX || ql > STORE_OUTBOX_RID_MAX || len - HDR_LEN < rl + ql)
        return PT_EPARSE;
    if (memchr(p + HDR_LEN, 0, rl + ql))
        return PT_EPARSE; /* C strings cannot hold a NUL: keeps decode(encode(x)) == x */
    o->attempts = p[1];
    o->code = (int)get_be(p + 2, 2);
    at = get_be(p + 4, 8);
    memcpy(&o->closed_at_ms, &at, sizeof at);
    o->reason.p = (const char *)p + HDR_LEN;
    o->reason.len = rl;
    o->request_id.p = ql ? (const char *)p + HDR_LEN + rl : NULL;
    o->request_id.len = ql;
    return store__view_parse(p + HDR_LEN + rl + ql, len - HDR_LEN - rl - ql, &o->rec);
}

/* Fills e from a parsed view and its key; every string is malloc'ed. */
static void view_to_entry(const store_outbox_view_t *o, const char *id, size_t id_len,
                          store_outbox_t *e)
{
    memset(e, 0, sizeof *e);
    store__view_to_conn(&o->rec, id, id_len, &e->conn, NULL);
    e->close_code = o->code;
    e->close_reason = pt_xstrndup(o->reason.p, o->reason.len);
    e->request_id = o->request_id.p ? pt_xstrndup(o->request_id.p, o->request_id.len) : NULL;
    e->closed_at_ms = o->closed_at_ms;
    e->attempts = o->attempts;
}

/* --- public codec ----------------------------------------------------------------------------- */

int store_outbox_encode(const store_outbox_t *e, char **out, size_t *out_len)
{
    buf_t b = BUF_INIT; /* owned until handed to *out */
    store_view_t v;
    int rc = store__view_of(&e->conn, &v);
    if (rc == PT_OK)
        rc = store__outbox_encode(&v, e->close_code, e->close_reason, e->request_id,
                                  e->closed_at_ms, e->attempts, &b);
    if (rc != PT_OK) {
        buf_free(&b);
        return rc;
    }
    *out = buf_steal(&b, out_len);
    return PT_OK;
}

int store_outbox_decode(const char *id, const void *data, size_t len, store_outbox_t *e)
{
    store_outbox_view_t o;
    size_t id_len = id ? strnlen(id, STORE_ID_LEN + 1) : 0;
    memset(e, 0, sizeof *e);
    if (id_len > STORE_ID_LEN || store__outbox_parse(data, len, &o) != PT_OK)
        return PT_EPARSE;
    view_to_entry(&o, id ? id : "", id_len, e);
    return PT_OK;
}

void store_outbox_clear(store_outbox_t *e)
{
    if (!e)
        return;
    store_conn_clear(&e->conn);
    free(e->close_reason);
    free(e->request_id);
    memset(e, 0, sizeof *e);
}

/* --- reads and single writes ---------------------------------------------------------------- */

int store_outbox_count(store_t *st, uint64_t *count)
{
    MDB_txn *txn;
    MDB_stat ms;
    int rc, mrc;
    *count = 0;
    if (!st->has_outbox)
        return PT_OK; /* a read-only handle on a registry older than the outbox */
    rc = store__txn_begin(st, MDB_RDONLY, &txn, NULL);
    if (rc != PT_OK)
        return rc;
    mrc = mdb_stat(txn, st->outbox, &ms);
    if (mrc == MDB_SUCCESS)
        *count = ms.ms_entries;
    store__txn_end(st, txn, false);
    return store__mdb_err(mrc);
}

int store_outbox_get(store_t *st, const char *id, store_outbox_t *e)
{
    MDB_txn *txn;
    MDB_val key, val;
    store_outbox_view_t o;
    size_t id_len = store__id_len(id);
    int rc, mrc;
    memset(e, 0, sizeof *e);
    if (!id_len || !st->has_outbox)
        return PT_ENOTFOUND;
    rc = store__txn_begin(st, MDB_RDONLY, &txn, NULL);
    if (rc != PT_OK)
        return rc;
    key.mv_size = id_len;
    key.mv_data = (void *)id;
    mrc = mdb_get(txn, st->outbox, &key, &val);
    if (mrc != MDB_SUCCESS)
        rc = store__mdb_err(mrc);
    else if (store__outbox_parse(val.mv_data, val.mv_size, &o) != PT_OK)
        rc = PT_EPARSE;
    else /* copies out of the page before the txn ends */
        view_to_entry(&o, id, id_len, e);
    store__txn_end(st, txn, false);
    return rc;
}

int store_outbox_iter(store_t *st, const char *after_id, size_t limit, store_outbox_cb cb,
                      void *ctx)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val key, val;
    store_outbox_view_t o;
    store_outbox_t e;
    size_t after_len = after_id ? strnlen(after_id, STORE_ID_LEN + 1) : 0;
    size_t passed = 0;
    int rc, mrc;

    if (!cb || after_len > STORE_ID_LEN)
        return PT_EINVAL;
    if (!st->has_outbox)
        return PT_OK;
    rc = store__txn_begin(st, MDB_RDONLY, &txn, NULL);
    if (rc != PT_OK)
        return rc;
    mrc = mdb_cursor_open(txn, st->outbox, &cur);
    if (mrc != MDB_SUCCESS)
        goto out;
    if (after_len) {
        key.mv_size = after_len;
        key.mv_data = (void *)after_id;
        mrc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
        if (mrc == MDB_SUCCESS && key.mv_size == after_len &&
            !memcmp(key.mv_data, after_id, after_len))
            mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
    } else {
        mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
    }
    for (; mrc == MDB_SUCCESS; mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size < 1 || key.mv_size > STORE_ID_LEN ||
            store__outbox_parse(val.mv_data, val.mv_size, &o) != PT_OK)
            continue; /* skipped, as the registry's listing skips what does not decode */
        view_to_entry(&o, key.mv_data, key.mv_size, &e);
        passed++;
        int stop = cb(ctx, &e);
        store_outbox_clear(&e);
        if (stop || (limit && passed == limit))
            break;
    }
    if (mrc == MDB_NOTFOUND)
        mrc = MDB_SUCCESS;
out:
    if (cur)
        mdb_cursor_close(cur);
    store__txn_end(st, txn, false);
    rc = store__mdb_err(mrc);
    return rc == PT_OK || rc == PT_EBUSY ? rc : PT_EIO;
}

int store_outbox_del(store_t *st, const char *id)
{
    store_batch_t *b;
    int rc;
    if (!store__id_len(id))
        return PT_OK; /* no entry can have that key */
    b = store_batch_new();
    store_batch_outbox_del(b, id);
    rc = store_batch_commit(st, b, NULL, NULL);
    store_batch_free(b);
    return rc;
}
