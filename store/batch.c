/* batch.c: write batches: queue puts, touches and deletes in memory, apply them in one txn. */
#include "common/err.h"
#include "common/mem.h"
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

enum { OP_PUT, OP_TOUCH, OP_DEL, OP_OBOX_PUT, OP_OBOX_DEL, OP_SKIP };

typedef struct batch_op {
    uint8_t kind;
    uint8_t id_len;
    char id[STORE_ID_LEN]; /* the key, not NUL-terminated */
    int64_t ts;            /* touch: the new last_active_at_ms */
    size_t off, len;       /* put, outbox put: the encoded value, in data */
} batch_op_t;

/* Everything is encoded when queued, so a commit only hands bytes to LMDB; the arrays keep
 * their capacity from one loop turn to the next. */
struct store_batch {
    batch_op_t *ops; /* owned */
    size_t n, cap;
    buf_t data;    /* owned: encoded records of the puts */
    buf_t scratch; /* owned: a touched record is re-encoded here during commit */
};

store_batch_t *store_batch_new(void)
{
    return pt_xcalloc(1, sizeof(store_batch_t));
}

void store_batch_free(store_batch_t *b)
{
    if (!b)
        return;
    free(b->ops);
    buf_free(&b->data);
    buf_free(&b->scratch);
    free(b);
}

size_t store_batch_len(const store_batch_t *b)
{
    return b->n;
}

static batch_op_t *push(store_batch_t *b, int kind, const char *id, size_t id_len)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->ops = pt_xrealloc(b->ops, b->cap * sizeof *b->ops);
    }
    batch_op_t *op = &b->ops[b->n++];
    memset(op, 0, sizeof *op);
    op->kind = (uint8_t)kind;
    op->id_len = (uint8_t)id_len;
    memcpy(op->id, id, id_len);
    return op;
}

static void empty(store_batch_t *b)
{
    b->n = 0;
    buf_reset(&b->data);
}

int store_batch_put(store_batch_t *b, const store_conn_t *rec)
{
    store_view_t v;
    size_t id_len = store__id_len(rec->id);
    size_t off = b->data.len;
    int rc;
    if (!id_len)
        return PT_EINVAL;
    rc = store__view_of(rec, &v);
    if (rc == PT_OK)
        rc = store__view_encode(&v, &b->data); /* checks before it appends anything */
    if (rc != PT_OK)
        return rc;
    batch_op_t *op = push(b, OP_PUT, rec->id, id_len);
    op->off = off;
    op->len = b->data.len - off;
    return PT_OK;
}

int store_batch_outbox_put(store_batch_t *b, const store_outbox_t *e)
{
    store_view_t v;
    size_t id_len = store__id_len(e->conn.id);
    size_t off = b->data.len;
    int rc;
    if (!id_len)
        return PT_EINVAL;
    rc = store__view_of(&e->conn, &v);
    if (rc == PT_OK) /* appends nothing on failure */
        rc = store__outbox_encode(&v, e->close_code, e->close_reason, e->request_id,
                                  e->closed_at_ms, e->attempts, &b->data);
    if (rc != PT_OK)
        return rc;
    batch_op_t *op = push(b, OP_OBOX_PUT, e->conn.id, id_len);
    op->off = off;
    op->len = b->data.len - off;
    return PT_OK;
}

void store_batch_outbox_del(store_batch_t *b, const char *id)
{
    size_t id_len = store__id_len(id);
    if (id_len)
        push(b, OP_OBOX_DEL, id, id_len);
}

void store_batch_touch(store_batch_t *b, const char *id, int64_t last_active_at_ms)
{
    size_t id_len = store__id_len(id);
    if (id_len)
        push(b, OP_TOUCH, id, id_len)->ts = last_active_at_ms;
}

void store_batch_del(store_batch_t *b, const char *id)
{
    size_t id_len = store__id_len(id);
    if (id_len)
        push(b, OP_DEL, id, id_len);
}

/* Re-encodes the record under key with a new last_active_at_ms. A record that is gone or does
 * not decode is left alone: a touch is advisory. Returns an LMDB code. */
static int apply_touch(store_t *st, MDB_txn *txn, store_batch_t *b, MDB_val *key, int64_t ts)
{
    MDB_val val;
    store_view_t v;
    int mrc = mdb_get(txn, st->conns, key, &val);
    if (mrc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (mrc != MDB_SUCCESS)
        return mrc;
    if (store__view_parse(val.mv_data, val.mv_size, &v) != PT_OK)
        return MDB_SUCCESS;
    v.last_active_at_ms = ts;
    /* v points into the page mdb_put is about to replace: encode it out first. A parsed view
     * is within the limits, so encoding cannot fail. */
    buf_reset(&b->scratch);
    if (store__view_encode(&v, &b->scratch) != PT_OK)
        return MDB_SUCCESS;
    val.mv_size = b->scratch.len;
    val.mv_data = b->scratch.p;
    return mdb_put(txn, st->conns, key, &val, 0);
}

/* Applies every op in order; duplicate puts are listed in *dups (allocated on the first one,
 * room for every op). Returns an LMDB code; the caller aborts on failure. */
static int apply(store_t *st, MDB_txn *txn, store_batch_t *b, char (**dups)[STORE_ID_LEN + 1],
                 size_t *ndups)
{
    int mrc = MDB_SUCCESS;
    for (size_t i = 0; i < b->n && mrc == MDB_SUCCESS; i++) {
        batch_op_t *op = &b->ops[i];
        MDB_val key = {op->id_len, op->id};
        MDB_val val;
        switch (op->kind) {
        case OP_PUT:
            val.mv_size = op->len;
            val.mv_data = b->data.p + op->off;
            mrc = mdb_put(txn, st->conns, &key, &val, MDB_NOOVERWRITE);
            if (mrc == MDB_KEYEXIST) {
                if (!*dups)
                    *dups = pt_xmalloc(b->n * sizeof **dups);
                memcpy((*dups)[*ndups], op->id, op->id_len);
                (*dups)[*ndups][op->id_len] = '\0';
                (*ndups)++;
                mrc = MDB_SUCCESS;
            }
            break;
        case OP_TOUCH:
            mrc = apply_touch(st, txn, b, &key, op->ts);
            break;
        case OP_DEL:
        case OP_OBOX_DEL:
            mrc = mdb_del(txn, op->kind == OP_DEL ? st->conns : st->outbox, &key, NULL);
            if (mrc == MDB_NOTFOUND)
                mrc = MDB_SUCCESS;
            break;
        case OP_OBOX_PUT:
            val.mv_size = op->len;
            val.mv_data = b->data.p + op->off;
            mrc = mdb_put(txn, st->outbox, &key, &val, 0);
            break;
        case OP_SKIP:
            break;
        }
    }
    return mrc;
}

/*
 * A batch that does not fit a map at its size limit is replayed without what adds data, so that
 * a full registry still shrinks: first without the registry puts and touches (level 1: those
 * connections are refused, the caller sees PT_EMAPFULL), in the reserve past the limit if need
 * be (store__grow_reserve), then also without the outbox puts (level 2: a $disconnect then
 * goes out once, unguarded). Deletes always stay. Returns whether anything was dropped.
 */
static bool shed(store_batch_t *b, int level)
{
    bool dropped = false;
    for (size_t i = 0; i < b->n; i++) {
        batch_op_t *op = &b->ops[i];
        if (op->kind == OP_PUT || op->kind == OP_TOUCH || (level == 2 && op->kind == OP_OBOX_PUT)) {
            op->kind = OP_SKIP;
            dropped = true;
        }
    }
    return dropped;
}

int store_batch_commit(store_t *st, store_batch_t *b, store_dup_cb dup_cb, void *ctx)
{
    char(*dups)[STORE_ID_LEN + 1] = NULL; /* owned: ids to report once the batch is empty */
    size_t ndups = 0;
    int shed_level = 0;
    bool full = false, reserved = false;
    int rc = PT_OK;

    if (st->read_only) {
        rc = PT_EINVAL;
        goto out;
    }
    /* Inside a store callback this thread holds a transaction: a write transaction would wait
     * for LMDB's writer lock it may hold itself, and growing the map would wait for itself. */
    if (store__hold_depth()) {
        rc = PT_EBUSY;
        goto out;
    }
    if (b->n == 0)
        goto out;
    for (;;) {
        MDB_txn *txn;
        size_t seen;
        int mrc;
        rc = store__txn_begin(st, 0, &txn, &seen);
        if (rc != PT_OK)
            goto out;
        ndups = 0;
        mrc = apply(st, txn, b, &dups, &ndups);
        if (mrc == MDB_SUCCESS)
            mrc = store__txn_end(st, txn, true);
        else
            store__txn_end(st, txn, false);
        if (mrc != MDB_MAP_FULL) {
            rc = store__mdb_err(mrc);
            break;
        }
        /* Nothing was written; grow (outside any transaction) and replay the whole batch. */
        rc = store__grow(st, seen);
        if (rc == PT_EMAPFULL) {
            full = true; /* the map is at its limit: replay what frees space or must stay */
            if (shed_level == 0) {
                shed_level = 1;
                if (shed(b, 1))
                    continue;
            }
            if (!reserved) {
                rc = store__grow_reserve(st, seen);
                reserved = rc == PT_OK;
                if (rc == PT_OK)
                    continue;
                if (rc != PT_EMAPFULL)
                    break;
            }
            if (shed_level == 1) {
                shed_level = 2;
                if (shed(b, 2))
                    continue;
            }
        }
        if (rc != PT_OK)
            break;
    }
    if (rc == PT_OK && full)
        rc = PT_EMAPFULL;
    if (reserved)
        store__unreserve(st);
out:
    empty(b);
    if (rc == PT_OK && dup_cb) {
        for (size_t i = 0; i < ndups; i++)
            dup_cb(ctx, dups[i]);
    }
    free(dups);
    return rc;
}
