/* store.c: the LMDB environment: open/close, reader checks, transactions and map growth. */
#include "common/err.h"
#include "common/mem.h"
#include "store/store_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define DEFAULT_MAP_SIZE     ((size_t)64 << 20)
#define DEFAULT_MAX_MAP_SIZE ((size_t)4 << 30)
#define DEFAULT_MAX_READERS  126
#define MAX_DBS              16
#define CONNS_DB             "conns"
#define QUOTA_DB             "quota"
#define OUTBOX_DB            "outbox"

/* Transactions this thread holds, over all stores: a thread holding one must not wait for a
 * store's lock exclusive (it would wait for itself), nor begin a write transaction. */
static _Thread_local unsigned hold_depth;

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!errbuf || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

int store__mdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return PT_OK;
    case MDB_NOTFOUND:
        return PT_ENOTFOUND;
    case MDB_KEYEXIST:
        return PT_EEXISTS;
    case MDB_MAP_FULL:
        return PT_EMAPFULL;
    case MDB_TXN_FULL:
    case MDB_BAD_VALSIZE:
        return PT_ETOOBIG;
    case MDB_READERS_FULL:
        return PT_EBUSY;
    case ENOMEM:
        return PT_ENOMEM;
    case EINVAL:
        return PT_EINVAL;
    case ENOENT: /* only at open: a read-only handle and no data file */
        return PT_ENOTFOUND;
    default:
        /* MDB_CORRUPTED, MDB_PANIC, MDB_PAGE_NOTFOUND, MDB_INVALID, MDB_VERSION_MISMATCH,
         * MDB_MAP_RESIZED after retries, errno values of I/O */
        return PT_EIO;
    }
}

unsigned store__hold_depth(void)
{
    return hold_depth;
}

/* --- locking and transactions ---------------------------------------------------------------- */

static void hold(store_t *st)
{
    pthread_rwlock_rdlock(&st->lock);
    hold_depth++;
}

static void release(store_t *st)
{
    hold_depth--;
    pthread_rwlock_unlock(&st->lock);
}

/* Re-reads the map size after a change; called with the lock exclusive. */
static void refresh_map_size(store_t *st)
{
    MDB_envinfo info;
    if (mdb_env_info(st->env, &info) == MDB_SUCCESS)
        st->map_size = info.me_mapsize;
}

/* Another process grew the map (MDB_MAP_RESIZED): map the size its meta page records. */
static int adopt_map_size(store_t *st)
{
    int rc = PT_OK;
    int mrc;
    if (hold_depth)
        return PT_EBUSY;
    pthread_rwlock_wrlock(&st->lock);
    mrc = mdb_env_set_mapsize(st->env, 0);
    if (mrc != MDB_SUCCESS) {
        rc = PT_EIO;
        goto out;
    }
    refresh_map_size(st);
    if (st->map_size > st->max_map_size)
        st->max_map_size = st->map_size;
out:
    pthread_rwlock_unlock(&st->lock);
    return rc;
}

int store__txn_begin(store_t *st, unsigned flags, MDB_txn **txn, size_t *map_size)
{
    /* MDB_MAP_RESIZED twice in a row would need another process to grow the map again right
     * away; a few tries are plenty. */
    for (int tries = 0;; tries++) {
        hold(st);
        int mrc = mdb_txn_begin(st->env, NULL, flags, txn);
        if (mrc == MDB_SUCCESS) {
            if (map_size)
                *map_size = st->map_size;
            return PT_OK;
        }
        release(st);
        if (mrc != MDB_MAP_RESIZED)
            return store__mdb_err(mrc);
        if (tries == 4)
            return PT_EIO;
        int rc = adopt_map_size(st);
        if (rc != PT_OK)
            return rc;
    }
}

int store__txn_end(store_t *st, MDB_txn *txn, bool commit)
{
    int mrc = MDB_SUCCESS;
    if (commit)
        mrc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    release(st);
    return mrc;
}

int store__grow(store_t *st, size_t seen)
{
    int rc = PT_OK;
    int mrc;
    size_t next;
    if (hold_depth)
        return PT_EBUSY;
    pthread_rwlock_wrlock(&st->lock);
    /* Several threads may hit MDB_MAP_FULL at the same size; the first one grows. */
    if (st->map_size != seen)
        goto out;
    if (seen >= st->max_map_size) {
        rc = PT_EMAPFULL;
        goto out;
    }
    next = seen > st->max_map_size / 2 ? st->max_map_size : seen * 2;
    mrc = mdb_env_set_mapsize(st->env, next);
    if (mrc != MDB_SUCCESS) {
        rc = PT_EIO;
        goto out;
    }
    refresh_map_size(st);
    if (st->map_size <= seen)
        rc = PT_EMAPFULL; /* no progress possible; never loop */
out:
    pthread_rwlock_unlock(&st->lock);
    return rc;
}

/* Room past max_map_size that only writes which free space (or record what is owed for what
 * they delete) may use: LMDB copies every page it touches, so even a delete needs free pages,
 * and a map filled to its limit by puts could otherwise never shrink again. */
static size_t reserve_of(const store_t *st)
{
    size_t r = st->max_map_size / 8;
    if (r < ((size_t)1 << 20))
        r = (size_t)1 << 20;
    if (r > ((size_t)64 << 20))
        r = (size_t)64 << 20;
    return r;
}

int store__grow_reserve(store_t *st, size_t seen)
{
    int rc = PT_OK;
    size_t limit;
    if (hold_depth)
        return PT_EBUSY;
    pthread_rwlock_wrlock(&st->lock);
    if (st->map_size != seen)
        goto out; /* another thread changed it: retry at the new size */
    limit = st->max_map_size + reserve_of(st);
    if (seen >= limit) {
        rc = PT_EMAPFULL;
        goto out;
    }
    if (mdb_env_set_mapsize(st->env, limit) != MDB_SUCCESS) {
        rc = PT_EIO;
        goto out;
    }
    refresh_map_size(st);
    if (st->map_size <= seen)
        rc = PT_EMAPFULL;
out:
    pthread_rwlock_unlock(&st->lock);
    return rc;
}

void store__unreserve(store_t *st)
{
    if (hold_depth)
        return;
    pthread_rwlock_wrlock(&st->lock);
    /* LMDB keeps at least the pages in use, so this cannot cut off data; what is left of the
     * reserve above them is given back, and puts stay refused until deletes make room. */
    if (st->map_size > st->max_map_size &&
        mdb_env_set_mapsize(st->env, st->max_map_size) == MDB_SUCCESS)
        refresh_map_size(st);
    pthread_rwlock_unlock(&st->lock);
}

/* --- open / close ---------------------------------------------------------------------------- */

/* mkdir -p with mode 0700 for what it creates (the registry holds client addresses and
 * authorizer context). */
static int mkdir_p(const char *path, char *errbuf, size_t errlen)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof tmp) {
        seterr(errbuf, errlen, "store: %s: path too long", path);
        return PT_EINVAL;
    }
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
            seterr(errbuf, errlen, "store: cannot create directory %s: %s", tmp, strerror(errno));
            return PT_EIO;
        }
        tmp[i] = c;
    }
    return PT_OK;
}

int store_open(const store_opts_t *opts, store_t **out, char *errbuf, size_t errlen)
{
    store_t *st = NULL; /* owned until handed to *out */
    MDB_txn *txn = NULL;
    pthread_rwlockattr_t attr;
    char path[PATH_MAX];
    size_t map_size, max_map_size;
    unsigned flags;
    int rc = PT_OK;
    int mrc, dead, n;

    *out = NULL;
    seterr(errbuf, errlen, "%s", "");
    if (!opts || !opts->dir || !opts->dir[0]) {
        seterr(errbuf, errlen, "store: no data directory given");
        return PT_EINVAL;
    }
    map_size = opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    max_map_size = opts->max_map_size ? opts->max_map_size : DEFAULT_MAX_MAP_SIZE;
    if (max_map_size < map_size) {
        seterr(errbuf, errlen, "store: max_map_size %zu is smaller than map_size %zu", max_map_size,
               map_size);
        return PT_EINVAL;
    }
    n = snprintf(path, sizeof path, "%s/registry", opts->dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        seterr(errbuf, errlen, "store: %s: path too long", opts->dir);
        return PT_EINVAL;
    }
    if (!opts->read_only) {
        rc = mkdir_p(path, errbuf, errlen);
        if (rc != PT_OK)
            return rc;
    } else if (access(path, F_OK) != 0) {
        int err = errno; /* seterr may change errno */
        seterr(errbuf, errlen, "store: %s: %s (no registry: is this the gateway's data_dir?)", path,
               strerror(err));
        return err == ENOENT ? PT_ENOTFOUND : PT_EIO;
    }

    st = pt_xcalloc(1, sizeof *st);
    st->read_only = opts->read_only;
    pthread_rwlockattr_init(&attr);
    /* Readers first, so a thread may nest a read in a store callback (see store_internal.h). */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_READER_NP);
    pthread_rwlock_init(&st->lock, &attr);
    pthread_rwlockattr_destroy(&attr);

    mrc = mdb_env_create(&st->env);
    if (mrc != MDB_SUCCESS) {
        st->env = NULL;
        goto mdb_fail;
    }
    mrc = mdb_env_set_maxdbs(st->env, MAX_DBS);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_set_maxreaders(st->env,
                                     opts->max_readers ? opts->max_readers : DEFAULT_MAX_READERS);
    /* A read-only handle maps whatever size the writer's meta page records. */
    if (mrc == MDB_SUCCESS && !opts->read_only)
        mrc = mdb_env_set_mapsize(st->env, map_size);
    if (mrc != MDB_SUCCESS)
        goto mdb_fail;
    flags = MDB_NOTLS | (opts->read_only ? MDB_RDONLY : MDB_NOSYNC);
    mrc = mdb_env_open(st->env, path, flags, 0600);
    if (mrc != MDB_SUCCESS)
        goto mdb_fail;
    mrc = mdb_reader_check(st->env, &dead);
    if (mrc != MDB_SUCCESS)
        goto mdb_fail;

    /* The dbi handle becomes the env's once this transaction commits (even a read-only one). */
    mrc = mdb_txn_begin(st->env, NULL, opts->read_only ? MDB_RDONLY : 0, &txn);
    if (mrc != MDB_SUCCESS)
        goto mdb_fail;
    mrc = mdb_dbi_open(txn, CONNS_DB, opts->read_only ? 0 : MDB_CREATE, &st->conns);
    if (mrc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        if (mrc == MDB_NOTFOUND) {
            seterr(errbuf, errlen, "store: %s: no connection registry in this environment", path);
            rc = PT_ENOTFOUND;
            goto fail;
        }
        goto mdb_fail;
    }
    /* A registry written before the outbox existed has no such database: a read-only handle
     * then reads it as empty. */
    mrc = mdb_dbi_open(txn, OUTBOX_DB, opts->read_only ? 0 : MDB_CREATE, &st->outbox);
    if (mrc == MDB_SUCCESS) {
        st->has_outbox = true;
    } else if (!(mrc == MDB_NOTFOUND && opts->read_only)) {
        mdb_txn_abort(txn);
        goto mdb_fail;
    }
    /* Usage-plan quota counters (quota.c): kept here so a restart does not reset a quota. */
    mrc = mdb_dbi_open(txn, QUOTA_DB, opts->read_only ? 0 : MDB_CREATE, &st->quota);
    if (mrc == MDB_SUCCESS) {
        st->has_quota = true;
    } else if (!(mrc == MDB_NOTFOUND && opts->read_only)) {
        mdb_txn_abort(txn);
        goto mdb_fail;
    }
    mrc = mdb_txn_commit(txn);
    if (mrc != MDB_SUCCESS)
        goto mdb_fail;

    st->max_map_size = max_map_size;
    refresh_map_size(st);
    if (st->map_size > st->max_map_size)
        st->max_map_size = st->map_size; /* an earlier run grew it further; keep that */
    *out = st;
    return PT_OK;

mdb_fail:
    seterr(errbuf, errlen, "store: %s: %s", path, mdb_strerror(mrc));
    rc = store__mdb_err(mrc);
    if (rc != PT_EINVAL && rc != PT_ENOTFOUND)
        rc = PT_EIO;
fail:
    if (st->env)
        mdb_env_close(st->env);
    pthread_rwlock_destroy(&st->lock);
    free(st);
    return rc;
}

void store_close(store_t *st)
{
    if (!st)
        return;
    mdb_env_close(st->env);
    pthread_rwlock_destroy(&st->lock);
    free(st);
}

int store_maintain(store_t *st)
{
    int dead = 0;
    int mrc = mdb_reader_check(st->env, &dead);
    return mrc == MDB_SUCCESS ? dead : store__mdb_err(mrc);
}

int store_info(store_t *st, store_info_t *out)
{
    MDB_envinfo info;
    MDB_stat ms;
    int mrc;
    memset(out, 0, sizeof *out);
    hold(st); /* the map size must not change under mdb_env_info */
    mrc = mdb_env_info(st->env, &info);
    if (mrc == MDB_SUCCESS)
        mrc = mdb_env_stat(st->env, &ms);
    if (mrc == MDB_SUCCESS) {
        out->map_size = info.me_mapsize;
        out->max_map_size = st->max_map_size;
        out->used_bytes = (info.me_last_pgno + 1) * (size_t)ms.ms_psize;
        out->reader_slots = info.me_numreaders;
        out->max_readers = info.me_maxreaders;
    }
    release(st);
    return mrc == MDB_SUCCESS ? PT_OK : PT_EIO;
}
