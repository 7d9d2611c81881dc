/* quota.c: usage-plan quota counters (issue 7), so that a restart does not reset a quota. */
#include "common/err.h"
#include "store/store_internal.h"

#include <string.h>

/*
 * One record per (usage plan, API key): key "PLANID/KEYID", value 17 bytes: a version byte
 * (1), the window start (unix seconds) and the count, each as 8 little-endian bytes. The
 * gateway keeps the live counters in memory and writes the changed ones here about once a
 * second and at shutdown (gateway/limits.c), so a crash loses at most that second.
 */

#define QUOTA_VERSION 1
#define QUOTA_LEN     17

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int store_quota_encode(const store_quota_t *q, uint8_t out[STORE_QUOTA_LEN])
{
    out[0] = QUOTA_VERSION;
    put64(out + 1, (uint64_t)q->window_start);
    put64(out + 9, q->used);
    return PT_OK;
}

int store_quota_decode(const void *data, size_t len, store_quota_t *q)
{
    const uint8_t *p = data;
    memset(q, 0, sizeof *q);
    if (len != QUOTA_LEN || p[0] != QUOTA_VERSION)
        return PT_EPARSE;
    q->window_start = (int64_t)get64(p + 1);
    q->used = get64(p + 9);
    return PT_OK;
}

static bool key_ok(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    return n > 0 && n <= STORE_QUOTA_KEY_MAX;
}

int store_quota_get(store_t *st, const char *key, store_quota_t *out)
{
    MDB_txn *txn;
    MDB_val k, v;
    memset(out, 0, sizeof *out);
    if (!key_ok(key))
        return PT_EINVAL;
    if (!st->has_quota)
        return PT_ENOTFOUND;
    int rc = store__txn_begin(st, MDB_RDONLY, &txn, NULL);
    if (rc != PT_OK)
        return rc;
    k.mv_data = (void *)key;
    k.mv_size = strlen(key);
    int mrc = mdb_get(txn, st->quota, &k, &v);
    if (mrc == MDB_SUCCESS)
        rc = store_quota_decode(v.mv_data, v.mv_size, out);
    else
        rc = store__mdb_err(mrc);
    store__txn_end(st, txn, false);
    return rc;
}

int store_quota_put(store_t *st, const char *const *keys, const store_quota_t *vals, size_t n)
{
    if (st->read_only || !st->has_quota)
        return PT_EINVAL;
    if (store__hold_depth())
        return PT_EBUSY;
    for (size_t i = 0; i < n; i++)
        if (!key_ok(keys[i]))
            return PT_EINVAL;
    for (;;) {
        MDB_txn *txn;
        size_t seen;
        int rc = store__txn_begin(st, 0, &txn, &seen);
        if (rc != PT_OK)
            return rc;
        int mrc = MDB_SUCCESS;
        for (size_t i = 0; i < n && mrc == MDB_SUCCESS; i++) {
            uint8_t buf[QUOTA_LEN];
            MDB_val k = {strlen(keys[i]), (void *)keys[i]}, v = {sizeof buf, buf};
            store_quota_encode(&vals[i], buf);
            mrc = mdb_put(txn, st->quota, &k, &v, 0);
        }
        if (mrc != MDB_SUCCESS) {
            store__txn_end(st, txn, false);
        } else {
            mrc = store__txn_end(st, txn, true);
            if (mrc == MDB_SUCCESS)
                return PT_OK;
        }
        if (mrc != MDB_MAP_FULL)
            return store__mdb_err(mrc);
        rc = store__grow(st, seen);
        if (rc != PT_OK)
            return rc;
    }
}
