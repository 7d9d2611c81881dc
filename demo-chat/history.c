/* history.c: the last messages of each room: an in-memory ring and its LMDB store. */
#include "demo-chat/chat.h"

#include "common/err.h"
#include "common/mem.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- ring ------------------------------------------------------------------------------- */

void chat_hist_init(chat_hist_t *h)
{
    memset(h, 0, sizeof *h);
}

void chat_hist_dispose(chat_hist_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        chat_payload_unref(h->msg[(h->head + i) % CHAT_HISTORY]);
    memset(h, 0, sizeof *h);
}

void chat_hist_push(chat_hist_t *h, uint64_t seq, chat_payload_t *msg)
{
    size_t slot;
    if (h->n == CHAT_HISTORY) {
        slot = h->head;
        chat_payload_unref(h->msg[slot]);
        h->head = (h->head + 1) % CHAT_HISTORY;
    } else {
        slot = (h->head + h->n) % CHAT_HISTORY;
        h->n++;
    }
    h->msg[slot] = chat_payload_ref(msg);
    h->seq[slot] = seq;
}

const chat_payload_t *chat_hist_at(const chat_hist_t *h, size_t i, uint64_t *seq)
{
    if (i >= h->n)
        return NULL;
    size_t slot = (h->head + i) % CHAT_HISTORY;
    if (seq)
        *seq = h->seq[slot];
    return h->msg[slot];
}

/* ---- LMDB store ------------------------------------------------------------------------- */

struct chat_store {
    MDB_env *env;
    MDB_dbi dbi;
    bool dirty;
};

/* 64 MB holds CHAT_ROOMS_MAX rooms of CHAT_HISTORY messages of the largest size many times. */
#define STORE_MAP_SIZE (64u << 20)

static int mdb_status(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return PT_OK;
    case MDB_NOTFOUND:
        return PT_ENOTFOUND;
    case MDB_MAP_FULL:
        return PT_EMAPFULL;
    default:
        return PT_EIO;
    }
}

int chat_store_open(const char *dir, chat_store_t **out, char *err, size_t err_cap)
{
    chat_store_t *s = pt_xcalloc(1, sizeof *s);
    MDB_txn *txn = NULL;
    int rc;
    const char *what = "mkdir";
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = errno;
        goto fail;
    }
    what = "mdb_env_create";
    if ((rc = mdb_env_create(&s->env)) != 0)
        goto fail;
    what = "mdb_env_set_mapsize";
    if ((rc = mdb_env_set_mapsize(s->env, STORE_MAP_SIZE)) != 0)
        goto fail;
    what = "mdb_env_open";
    if ((rc = mdb_env_open(s->env, dir, MDB_NOSYNC | MDB_NOTLS, 0600)) != 0)
        goto fail;
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    what = "mdb_txn_begin";
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail;
    what = "mdb_dbi_open";
    if ((rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0)
        goto fail;
    what = "mdb_txn_commit";
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        goto fail;
    *out = s;
    return PT_OK;

fail:
    snprintf(err, err_cap, "%s: %s: %s", dir, what, mdb_strerror(rc));
    if (txn)
        mdb_txn_abort(txn);
    if (s->env)
        mdb_env_close(s->env);
    free(s);
    *out = NULL;
    return PT_EIO;
}

void chat_store_close(chat_store_t *s)
{
    if (!s)
        return;
    mdb_env_sync(s->env, 1);
    mdb_env_close(s->env);
    free(s);
}

/* key = room, NUL, seq big-endian: one room's messages are adjacent and in order. */
static size_t make_key(char *key, const char *room, uint64_t seq)
{
    size_t n = strlen(room);
    memcpy(key, room, n);
    key[n] = '\0';
    for (int i = 0; i < 8; i++)
        key[n + 1 + i] = (char)(seq >> (56 - 8 * i));
    return n + 9;
}

int chat_store_append(chat_store_t *s, const char *room, uint64_t seq, const char *json, size_t len)
{
    char key[CHAT_ROOM_MAX + 9];
    if (strlen(room) > CHAT_ROOM_MAX)
        return PT_EINVAL;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        goto fail;
    MDB_val k = {make_key(key, room, seq), key};
    MDB_val v = {len, (void *)json};
    if ((rc = mdb_put(txn, s->dbi, &k, &v, 0)) != 0)
        goto fail;
    if (seq >= CHAT_HISTORY) {
        k.mv_size = make_key(key, room, seq - CHAT_HISTORY);
        k.mv_data = key;
        rc = mdb_del(txn, s->dbi, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            goto fail;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        goto fail;
    s->dirty = true;
    return PT_OK;

fail:
    if (txn)
        mdb_txn_abort(txn);
    return mdb_status(rc);
}

int chat_store_each(chat_store_t *s, chat_store_each_cb cb, void *ctx)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        goto out;
    if ((rc = mdb_cursor_open(txn, s->dbi, &cur)) != 0)
        goto out;
    MDB_val k, v;
    char room[CHAT_ROOM_MAX + 1];
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        /* Keys this program did not write are skipped, not trusted. */
        if (k.mv_size < 10 || k.mv_size > CHAT_ROOM_MAX + 9)
            continue;
        size_t rn = k.mv_size - 9;
        const unsigned char *kp = k.mv_data;
        if (kp[rn] != '\0' || memchr(kp, '\0', rn))
            continue;
        memcpy(room, kp, rn);
        room[rn] = '\0';
        uint64_t seq = 0;
        for (int i = 0; i < 8; i++)
            seq = (seq << 8) | kp[rn + 1 + i];
        cb(ctx, room, seq, v.mv_data, v.mv_size);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;

out:
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    return mdb_status(rc);
}

int chat_store_sync(chat_store_t *s)
{
    if (!s->dirty)
        return PT_OK;
    s->dirty = false;
    return mdb_env_sync(s->env, 1) == 0 ? PT_OK : PT_EIO;
}
