/* test_store.c: unit tests of the LMDB store: batches, reads, sweep, map growth, processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/mem.h"
#include "store/store.h"
#include "store_test.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Each test gets a fresh directory under /tmp and an open store; both go at teardown. */
typedef struct fixture {
    char dir[64];
    store_t *st;
} fixture_t;

static store_t *open_store(const char *dir, bool read_only, size_t map, size_t max)
{
    store_opts_t o = {.dir = dir, .read_only = read_only, .map_size = map, .max_map_size = max};
    store_t *st = NULL;
    char err[256];
    int rc = store_open(&o, &st, err, sizeof err);
    if (rc != PT_OK)
        fail_msg("store_open(%s): %s: %s", dir, pt_errname(rc), err);
    return st;
}

static int setup_dir(void **state)
{
    fixture_t *f = pt_xcalloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/portico-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    if (setup_dir(state) != 0)
        return -1;
    fixture_t *f = *state;
    f->st = open_store(f->dir, false, 0, 0);
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    store_close(f->st);
    int rc = store_test_rm_rf(f->dir);
    free(f);
    return rc;
}

/* Ids "c00000000000042=" sort in numeric order. */
static void make_id(char out[STORE_ID_LEN + 1], unsigned n)
{
    snprintf(out, STORE_ID_LEN + 1, "c%014u=", n);
}

static store_conn_t make_rec(unsigned n, uint8_t node, uint64_t epoch)
{
    store_conn_t r = {
        .node = node,
        .worker = (uint8_t)(n % 2),
        .epoch = epoch,
        .connected_at_ms = 1700000000000 + n,
        .last_active_at_ms = 1700000000000 + n,
        .api_id = (char *)"abcde12345",
        .stage = (char *)"prod",
        .source_ip = (char *)"192.0.2.7",
        .user_agent = n % 3 ? (char *)"test-agent/1.0" : NULL,
        .domain_name = (char *)"ws.example.com",
        .authorizer_json = n % 2 ? (char *)"{\"principalId\":\"me\"}" : NULL,
        .extra_json = NULL,
    };
    make_id(r.id, n);
    return r;
}

/* Puts records first..first+n-1 in one batch. */
static int put_range(store_t *st, unsigned first, unsigned n, uint8_t node, uint64_t epoch)
{
    store_batch_t *b = store_batch_new();
    for (unsigned i = first; i < first + n; i++) {
        store_conn_t r = make_rec(i, node, epoch);
        assert_int_equal(store_batch_put(b, &r), PT_OK);
    }
    int rc = store_batch_commit(st, b, NULL, NULL);
    store_batch_free(b);
    return rc;
}

static uint64_t count(store_t *st)
{
    uint64_t n = 0;
    assert_int_equal(store_conn_count(st, &n), PT_OK);
    return n;
}

static bool exists(store_t *st, unsigned n)
{
    char id[STORE_ID_LEN + 1];
    store_conn_t r;
    make_id(id, n);
    int rc = store_conn_get(st, id, &r);
    store_conn_clear(&r);
    if (rc != PT_OK && rc != PT_ENOTFOUND)
        fail_msg("get %s: %s", id, pt_errname(rc));
    return rc == PT_OK;
}

/* --- open ---------------------------------------------------------------------------------- */

static void test_open_creates_dirs(void **state)
{
    fixture_t *f = *state;
    char dir[128], path[160];
    struct stat sb;
    snprintf(dir, sizeof dir, "%s/a/b", f->dir);
    store_t *st = open_store(dir, false, 0, 0);
    snprintf(path, sizeof path, "%s/registry/data.mdb", dir);
    assert_int_equal(stat(path, &sb), 0);
    snprintf(path, sizeof path, "%s/registry", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(store_maintain(st), 0);
    store_info_t info;
    assert_int_equal(store_info(st, &info), PT_OK);
    assert_true(info.map_size == (size_t)64 << 20);
    assert_true(info.max_map_size == (size_t)4 << 30);
    assert_int_equal(info.max_readers, 126);
    assert_true(info.used_bytes > 0);
    store_close(st);
}

static void test_open_errors(void **state)
{
    fixture_t *f = *state;
    char dir[128], err[512];
    store_t *st = (store_t *)1;
    store_opts_t o = {.dir = dir};

    /* a regular file where the directory should be */
    snprintf(dir, sizeof dir, "%s/file", f->dir);
    FILE *fp = fopen(dir, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(store_open(&o, &st, err, sizeof err), PT_EIO);
    assert_null(st);
    assert_non_null(strstr(err, dir));

    /* read-only where no gateway ever ran */
    snprintf(dir, sizeof dir, "%s/nothing", f->dir);
    o.read_only = true;
    assert_int_equal(store_open(&o, &st, err, sizeof err), PT_ENOTFOUND);
    assert_non_null(strstr(err, dir));
    assert_null(st);

    /* a registry directory without data files */
    snprintf(dir, sizeof dir, "%s/empty", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(err, sizeof err, "%s/registry", dir);
    assert_int_equal(mkdir(err, 0700), 0);
    assert_int_equal(store_open(&o, &st, err, sizeof err), PT_ENOTFOUND);
    assert_non_null(strstr(err, dir));
    assert_null(st);

    /* an env that has no registry database */
    snprintf(dir, sizeof dir, "%s/other", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(err, sizeof err, "%s/registry", dir);
    assert_int_equal(mkdir(err, 0700), 0);
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, err, 0, 0600), 0);
    mdb_env_close(env);
    assert_int_equal(store_open(&o, &st, err, sizeof err), PT_ENOTFOUND);
    assert_non_null(strstr(err, "no connection registry"));

    o.read_only = false;
    o.dir = NULL;
    assert_int_equal(store_open(&o, &st, err, sizeof err), PT_EINVAL);
    o.dir = f->dir;
    o.map_size = 1 << 20;
    o.max_map_size = 1 << 19;
    assert_int_equal(store_open(&o, &st, NULL, 0), PT_EINVAL);
    assert_null(st);
}

/* --- batches ------------------------------------------------------------------------------- */

static void test_put_get_touch_del(void **state)
{
    fixture_t *f = *state;
    store_batch_t *b = store_batch_new();
    store_conn_t in = make_rec(7, 1, 99), out;
    in.extra_json = (char *)"{\"k\":1}";
    assert_int_equal(store_batch_put(b, &in), PT_OK);
    assert_int_equal(store_batch_len(b), 1);
    /* the batch copied the record: changing it now changes nothing */
    in.stage = (char *)"changed";
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    assert_int_equal(store_batch_len(b), 0);

    assert_int_equal(store_conn_get(f->st, in.id, &out), PT_OK);
    assert_string_equal(out.id, in.id);
    assert_string_equal(out.stage, "prod");
    assert_string_equal(out.extra_json, "{\"k\":1}");
    assert_string_equal(out.authorizer_json, "{\"principalId\":\"me\"}");
    assert_string_equal(out.user_agent, "test-agent/1.0");
    assert_true(out.epoch == 99 && out.node == 1 && out.worker == 1);
    assert_true(out.last_active_at_ms == 1700000000007);
    store_conn_clear(&out);

    store_batch_touch(b, in.id, 1800000000000);
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    assert_int_equal(store_conn_get(f->st, in.id, &out), PT_OK);
    assert_true(out.last_active_at_ms == 1800000000000);
    assert_true(out.connected_at_ms == 1700000000007);
    assert_string_equal(out.extra_json, "{\"k\":1}");
    store_conn_clear(&out);

    store_batch_del(b, in.id);
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    assert_int_equal(store_conn_get(f->st, in.id, &out), PT_ENOTFOUND);
    assert_null(out.api_id);
    /* ids no record can have */
    assert_int_equal(store_conn_get(f->st, "", &out), PT_ENOTFOUND);
    assert_int_equal(store_conn_get(f->st, NULL, &out), PT_ENOTFOUND);
    assert_int_equal(store_conn_get(f->st, "0123456789abcdefg", &out), PT_ENOTFOUND);
    /* an empty commit is fine */
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    store_batch_free(b);
}

static void test_put_invalid(void **state)
{
    fixture_t *f = *state;
    store_batch_t *b = store_batch_new();
    store_conn_t r = make_rec(1, 1, 1);
    char big[STORE_STR_MAX + 2];
    memset(big, 'u', sizeof big - 1);
    big[sizeof big - 1] = '\0';

    r.source_ip = NULL;
    assert_int_equal(store_batch_put(b, &r), PT_EINVAL);
    r = make_rec(1, 1, 1);
    r.user_agent = big;
    assert_int_equal(store_batch_put(b, &r), PT_EINVAL);
    r = make_rec(1, 1, 1);
    r.id[0] = '\0';
    assert_int_equal(store_batch_put(b, &r), PT_EINVAL);
    r = make_rec(1, 1, 1);
    memset(r.id, 'x', sizeof r.id); /* not terminated */
    assert_int_equal(store_batch_put(b, &r), PT_EINVAL);
    store_batch_touch(b, "0123456789abcdefg", 1);
    store_batch_del(b, "");
    store_batch_del(b, NULL);
    assert_int_equal(store_batch_len(b), 0);
    /* the batch is still usable */
    r = make_rec(1, 1, 1);
    assert_int_equal(store_batch_put(b, &r), PT_OK);
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    assert_true(exists(f->st, 1));
    store_batch_free(b);
}

typedef struct dups {
    int n;
    char ids[8][STORE_ID_LEN + 1];
    store_batch_t *requeue; /* when set, a put with another id is queued here */
} dups_t;

static void on_dup(void *ctx, const char *id)
{
    dups_t *d = ctx;
    if (d->n < 8)
        strcpy(d->ids[d->n], id);
    d->n++;
    if (d->requeue) {
        store_conn_t r = make_rec(500 + (unsigned)d->n, 1, 1);
        assert_int_equal(store_batch_put(d->requeue, &r), PT_OK);
    }
}

static void test_duplicate_put(void **state)
{
    fixture_t *f = *state;
    store_batch_t *b = store_batch_new();
    dups_t d = {0};
    store_conn_t out;
    assert_int_equal(put_range(f->st, 1, 1, 1, 1), PT_OK);

    store_conn_t r = make_rec(2, 1, 1);
    assert_int_equal(store_batch_put(b, &r), PT_OK);
    r = make_rec(1, 1, 1);
    r.stage = (char *)"other";
    assert_int_equal(store_batch_put(b, &r), PT_OK); /* exists */
    r = make_rec(3, 1, 1);
    assert_int_equal(store_batch_put(b, &r), PT_OK);
    r = make_rec(3, 1, 1);
    assert_int_equal(store_batch_put(b, &r), PT_OK); /* duplicate within the batch */
    assert_int_equal(store_batch_commit(f->st, b, on_dup, &d), PT_OK);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.ids[0], "c00000000000001=");
    assert_string_equal(d.ids[1], "c00000000000003=");
    assert_true(exists(f->st, 2));
    assert_true(exists(f->st, 3));
    assert_int_equal(count(f->st), 3);
    /* the original stays */
    assert_int_equal(store_conn_get(f->st, "c00000000000001=", &out), PT_OK);
    assert_string_equal(out.stage, "prod");
    store_conn_clear(&out);

    /* dup_cb may queue a replacement put into the same batch, for the next commit */
    d = (dups_t){.requeue = b};
    r = make_rec(2, 1, 1);
    assert_int_equal(store_batch_put(b, &r), PT_OK);
    assert_int_equal(store_batch_commit(f->st, b, on_dup, &d), PT_OK);
    assert_int_equal(d.n, 1);
    assert_int_equal(store_batch_len(b), 1);
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    assert_true(exists(f->st, 501));
    store_batch_free(b);
}

static void test_batch_order(void **state)
{
    fixture_t *f = *state;
    store_batch_t *b = store_batch_new();
    char id[STORE_ID_LEN + 1];
    store_conn_t r, out;

    /* put then delete of the same id: gone */
    r = make_rec(10, 1, 1);
    store_batch_put(b, &r);
    store_batch_del(b, r.id);
    /* delete of an absent id then put: there */
    r = make_rec(11, 1, 1);
    store_batch_del(b, r.id);
    store_batch_put(b, &r);
    /* put then touch: touched */
    r = make_rec(12, 1, 1);
    store_batch_put(b, &r);
    store_batch_touch(b, r.id, 42);
    /* touch of an absent id: nothing */
    make_id(id, 13);
    store_batch_touch(b, id, 43);
    /* put, del, put again: the second record */
    r = make_rec(14, 1, 1);
    store_batch_put(b, &r);
    store_batch_del(b, r.id);
    r.stage = (char *)"second";
    store_batch_put(b, &r);
    assert_int_equal(store_batch_len(b), 10);
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);

    assert_false(exists(f->st, 10));
    assert_true(exists(f->st, 11));
    assert_false(exists(f->st, 13));
    make_id(id, 12);
    assert_int_equal(store_conn_get(f->st, id, &out), PT_OK);
    assert_true(out.last_active_at_ms == 42);
    store_conn_clear(&out);
    make_id(id, 14);
    assert_int_equal(store_conn_get(f->st, id, &out), PT_OK);
    assert_string_equal(out.stage, "second");
    store_conn_clear(&out);
    assert_int_equal(count(f->st), 3);
    store_batch_free(b);
}

/* --- reads --------------------------------------------------------------------------------- */

typedef struct collect {
    unsigned n;
    char ids[64][STORE_ID_LEN + 1];
    unsigned stop_after; /* 0: never stop */
} collect_t;

static int on_rec(void *ctx, const store_conn_t *rec)
{
    collect_t *c = ctx;
    assert_non_null(rec->api_id); /* the record is complete during the call */
    if (c->n < 64)
        strcpy(c->ids[c->n], rec->id);
    c->n++;
    return c->stop_after && c->n == c->stop_after;
}

static void test_iter_paging(void **state)
{
    fixture_t *f = *state;
    collect_t c;
    char id[STORE_ID_LEN + 1];
    assert_int_equal(count(f->st), 0);
    c = (collect_t){0};
    assert_int_equal(store_conn_iter(f->st, NULL, 10, on_rec, &c), PT_OK);
    assert_int_equal(c.n, 0);

    assert_int_equal(put_range(f->st, 0, 25, 1, 1), PT_OK);
    assert_int_equal(count(f->st), 25);

    /* three pages of 10, 10, 5, each after the last id of the page before */
    const char *after = NULL;
    char last[STORE_ID_LEN + 1] = "";
    unsigned seen = 0;
    for (int page = 0; page < 3; page++) {
        c = (collect_t){0};
        assert_int_equal(store_conn_iter(f->st, after, 10, on_rec, &c), PT_OK);
        assert_int_equal(c.n, page < 2 ? 10 : 5);
        for (unsigned i = 0; i < c.n; i++) {
            make_id(id, seen++);
            assert_string_equal(c.ids[i], id);
        }
        strcpy(last, c.ids[c.n - 1]);
        after = last;
    }
    c = (collect_t){0};
    assert_int_equal(store_conn_iter(f->st, last, 10, on_rec, &c), PT_OK);
    assert_int_equal(c.n, 0);

    /* "" is the start; limit 0 is everything */
    c = (collect_t){0};
    assert_int_equal(store_conn_iter(f->st, "", 0, on_rec, &c), PT_OK);
    assert_int_equal(c.n, 25);
    /* an after_id that is not a key starts at the next key */
    c = (collect_t){0};
    assert_int_equal(store_conn_iter(f->st, "c00000000000004", 2, on_rec, &c), PT_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.ids[0], "c00000000000004=");
    assert_string_equal(c.ids[1], "c00000000000005=");
    c = (collect_t){0};
    assert_int_equal(store_conn_iter(f->st, "a", 1, on_rec, &c), PT_OK);
    assert_string_equal(c.ids[0], "c00000000000000=");
    c = (collect_t){0};
    assert_int_equal(store_conn_iter(f->st, "d", 0, on_rec, &c), PT_OK);
    assert_int_equal(c.n, 0);
    /* early stop by the callback */
    c = (collect_t){.stop_after = 3};
    assert_int_equal(store_conn_iter(f->st, NULL, 0, on_rec, &c), PT_OK);
    assert_int_equal(c.n, 3);
    /* misuse */
    assert_int_equal(store_conn_iter(f->st, "0123456789abcdefg", 1, on_rec, &c), PT_EINVAL);
    assert_int_equal(store_conn_iter(f->st, NULL, 1, NULL, NULL), PT_EINVAL);
}

typedef struct nested {
    store_t *st;
    int calls;
    int get_rc, commit_rc, sweep_rc;
} nested_t;

/* From inside a callback: reads work, writes are refused. */
static int on_rec_nested(void *ctx, const store_conn_t *rec)
{
    nested_t *n = ctx;
    store_conn_t r;
    store_batch_t *b = store_batch_new();
    store_conn_t p = make_rec(900, 1, 1);
    n->calls++;
    n->get_rc = store_conn_get(n->st, rec->id, &r);
    store_conn_clear(&r);
    store_batch_put(b, &p);
    n->commit_rc = store_batch_commit(n->st, b, NULL, NULL);
    n->sweep_rc = store_sweep(n->st, 9, 9, NULL, NULL);
    store_batch_free(b);
    return 0;
}

static void test_callbacks_cannot_write(void **state)
{
    fixture_t *f = *state;
    nested_t n = {.st = f->st};
    assert_int_equal(put_range(f->st, 0, 2, 1, 1), PT_OK);
    assert_int_equal(store_conn_iter(f->st, NULL, 1, on_rec_nested, &n), PT_OK);
    assert_int_equal(n.calls, 1);
    assert_int_equal(n.get_rc, PT_OK);
    assert_int_equal(n.commit_rc, PT_EBUSY);
    assert_int_equal(n.sweep_rc, PT_EBUSY);
    /* same inside a sweep (a write transaction) */
    n = (nested_t){.st = f->st};
    assert_int_equal(store_sweep(f->st, 1, 2, on_rec_nested, &n), 2);
    assert_int_equal(n.calls, 2);
    assert_int_equal(n.get_rc, PT_OK);
    assert_int_equal(n.commit_rc, PT_EBUSY);
    assert_int_equal(n.sweep_rc, PT_EBUSY);
    assert_false(exists(f->st, 900));
    assert_int_equal(count(f->st), 0);
}

/* --- sweep --------------------------------------------------------------------------------- */

static void test_sweep(void **state)
{
    fixture_t *f = *state;
    collect_t c = {0};
    /* node 1: 0-3 from epoch 5 (stale), 10-12 current epoch 7; node 2: 20-22 epoch 5 */
    assert_int_equal(put_range(f->st, 0, 4, 1, 5), PT_OK);
    assert_int_equal(put_range(f->st, 10, 3, 1, 7), PT_OK);
    assert_int_equal(put_range(f->st, 20, 3, 2, 5), PT_OK);
    assert_int_equal(put_range(f->st, 30, 1, 1, 6), PT_OK); /* another old epoch */

    assert_int_equal(store_sweep(f->st, 1, 7, on_rec, &c), 5);
    assert_int_equal(c.n, 5);
    assert_string_equal(c.ids[0], "c00000000000000=");
    assert_string_equal(c.ids[3], "c00000000000003=");
    assert_string_equal(c.ids[4], "c00000000000030=");
    assert_int_equal(count(f->st), 6);
    for (unsigned i = 0; i < 4; i++)
        assert_false(exists(f->st, i));
    for (unsigned i = 10; i < 13; i++)
        assert_true(exists(f->st, i));
    for (unsigned i = 20; i < 23; i++)
        assert_true(exists(f->st, i));
    c = (collect_t){0};
    assert_int_equal(store_sweep(f->st, 1, 7, on_rec, &c), 0);
    assert_int_equal(c.n, 0);
    /* without a callback */
    assert_int_equal(store_sweep(f->st, 2, 8, NULL, NULL), 3);
    assert_int_equal(count(f->st), 3);
}

static void test_sweep_stop(void **state)
{
    fixture_t *f = *state;
    collect_t c = {.stop_after = 3};
    assert_int_equal(put_range(f->st, 0, 5, 1, 5), PT_OK);
    assert_int_equal(store_sweep(f->st, 1, 7, on_rec, &c), 2);
    assert_int_equal(c.n, 3);
    assert_false(exists(f->st, 0));
    assert_false(exists(f->st, 1));
    assert_true(exists(f->st, 2)); /* the one the callback stopped at stays */
    assert_int_equal(count(f->st), 3);
}

/* More records than one sweep chunk, stale and current interleaved. */
static void test_sweep_chunks(void **state)
{
    fixture_t *f = *state;
    const unsigned n = 10000;
    store_batch_t *b = store_batch_new();
    for (unsigned i = 0; i < n; i++) {
        store_conn_t r = make_rec(i, 1, i % 3 ? 5 : 7);
        store_batch_put(b, &r);
    }
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    collect_t c = {0};
    int removed = store_sweep(f->st, 1, 7, on_rec, &c);
    unsigned stale = n - (n + 2) / 3;
    assert_int_equal(removed, (int)stale);
    assert_int_equal(c.n, stale);
    assert_int_equal(count(f->st), n - stale);
    for (unsigned i = 0; i < n; i += 997)
        assert_true(exists(f->st, i) == (i % 3 == 0));
    store_batch_free(b);
}

/* --- map growth ---------------------------------------------------------------------------- */

static void test_map_growth(void **state)
{
    fixture_t *f = *state;
    store_close(f->st);
    store_test_rm_rf(f->dir);
    f->st = open_store(f->dir, false, 64 << 10, 0);
    store_info_t info;
    assert_int_equal(store_info(f->st, &info), PT_OK);
    size_t initial = info.map_size;
    for (unsigned i = 0; i < 20000; i += 1000)
        assert_int_equal(put_range(f->st, i, 1000, 1, 1), PT_OK);
    assert_int_equal(count(f->st), 20000);
    assert_int_equal(store_info(f->st, &info), PT_OK);
    assert_true(info.map_size >= 2 * initial);
    assert_true(info.used_bytes <= info.map_size);
    assert_true(exists(f->st, 0));
    assert_true(exists(f->st, 19999));
    /* a reopen keeps the grown size even though opts ask for less */
    store_close(f->st);
    f->st = open_store(f->dir, false, 64 << 10, 0);
    assert_int_equal(count(f->st), 20000);
    assert_int_equal(store_info(f->st, &info), PT_OK);
    assert_true(info.map_size > 64 << 10);
}

static void test_map_full(void **state)
{
    fixture_t *f = *state;
    store_close(f->st);
    store_test_rm_rf(f->dir);
    f->st = open_store(f->dir, false, 128 << 10, 512 << 10);
    unsigned next = 0;
    int rc;
    for (;;) {
        rc = put_range(f->st, next, 100, 1, 1);
        if (rc != PT_OK)
            break;
        next += 100;
        assert_true(next < 100000);
    }
    assert_int_equal(rc, PT_EMAPFULL);
    store_info_t info;
    assert_int_equal(store_info(f->st, &info), PT_OK);
    assert_true(info.map_size == 512 << 10);
    /* nothing of the failed batch, all of the earlier ones */
    assert_true(next > 0);
    assert_int_equal(count(f->st), next);
    assert_true(exists(f->st, 0));
    assert_true(exists(f->st, next - 1));
    assert_false(exists(f->st, next));
    /* still usable: delete some, then put again */
    store_batch_t *b = store_batch_new();
    for (unsigned i = 0; i < 500; i++) {
        char id[STORE_ID_LEN + 1];
        make_id(id, i);
        store_batch_del(b, id);
    }
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    assert_int_equal(count(f->st), next - 500);
    assert_int_equal(put_range(f->st, next, 50, 1, 1), PT_OK);
    assert_true(exists(f->st, next + 49));
    assert_int_equal(store_sweep(f->st, 1, 2, NULL, NULL), (int)(next - 450));
    assert_int_equal(count(f->st), 0);
    store_batch_free(b);
}

/* --- threads ------------------------------------------------------------------------------- */

typedef struct worker {
    store_t *st;
    unsigned base;
    int rc;
} worker_t;

#define PER_THREAD 3000

static void *writer(void *arg)
{
    worker_t *w = arg;
    store_batch_t *b = store_batch_new();
    for (unsigned i = 0; i < PER_THREAD && !w->rc; i++) {
        char id[STORE_ID_LEN + 1];
        store_conn_t r = make_rec(w->base + i, 1, 1);
        store_batch_put(b, &r);
        /* an extra record each turn, deleted a turn later; touches of earlier ones */
        r = make_rec(w->base + 100000 + i, 1, 1);
        store_batch_put(b, &r);
        if (i) {
            make_id(id, w->base + 100000 + i - 1);
            store_batch_del(b, id);
            make_id(id, w->base + i - 1);
            store_batch_touch(b, id, 5);
        }
        if (i % 16 == 15 || i == PER_THREAD - 1)
            w->rc = store_batch_commit(w->st, b, NULL, NULL);
    }
    char id[STORE_ID_LEN + 1];
    make_id(id, w->base + 100000 + PER_THREAD - 1);
    store_batch_del(b, id);
    if (!w->rc)
        w->rc = store_batch_commit(w->st, b, NULL, NULL);
    store_batch_free(b);
    return NULL;
}

static int on_rec_count(void *ctx, const store_conn_t *rec)
{
    (void)rec;
    (*(unsigned *)ctx)++;
    return 0;
}

static void *reader(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < 200 && !w->rc; i++) {
        uint64_t n;
        unsigned seen = 0;
        store_conn_t r;
        w->rc = store_conn_count(w->st, &n);
        if (!w->rc)
            w->rc = store_conn_iter(w->st, NULL, 500, on_rec_count, &seen);
        if (!w->rc) {
            int rc = store_conn_get(w->st, "c00000000000000=", &r);
            store_conn_clear(&r);
            w->rc = rc == PT_ENOTFOUND ? PT_OK : rc;
        }
    }
    return NULL;
}

/* Four writer threads and a reader on one store, starting from a tiny map so the map grows
 * while the others are in transactions. */
static void test_concurrent_commits(void **state)
{
    fixture_t *f = *state;
    pthread_t th[5];
    worker_t w[5];
    store_close(f->st);
    store_test_rm_rf(f->dir);
    f->st = open_store(f->dir, false, 64 << 10, 0);
    for (int i = 0; i < 5; i++) {
        w[i] = (worker_t){.st = f->st, .base = (unsigned)i * 1000000};
        assert_int_equal(pthread_create(&th[i], NULL, i < 4 ? writer : reader, &w[i]), 0);
    }
    for (int i = 0; i < 5; i++) {
        pthread_join(th[i], NULL);
        if (w[i].rc != PT_OK)
            fail_msg("thread %d: %s", i, pt_errname(w[i].rc));
    }
    assert_int_equal(count(f->st), 4 * PER_THREAD);
    for (unsigned t = 0; t < 4; t++) {
        for (unsigned i = 0; i < PER_THREAD; i += 101)
            assert_true(exists(f->st, t * 1000000 + i));
    }
    store_info_t info;
    assert_int_equal(store_info(f->st, &info), PT_OK);
    assert_true(info.map_size > 64 << 10);
}

/* --- other processes ----------------------------------------------------------------------- */

/* Child-side checks: cmocka must not run in the child, so failures become exit codes. */
#define CHILD_CHECK(cond, code)                                                                    \
    do {                                                                                           \
        if (!(cond))                                                                               \
            _exit(code);                                                                           \
    } while (0)

static int wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return status;
}

static void test_read_only_child(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(put_range(f->st, 0, 10, 1, 1), PT_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* a new handle of its own: the inherited one must not be used after fork */
        store_opts_t o = {.dir = f->dir, .read_only = true};
        store_t *ro;
        store_conn_t r;
        uint64_t n;
        CHILD_CHECK(store_open(&o, &ro, NULL, 0) == PT_OK, 10);
        CHILD_CHECK(store_conn_count(ro, &n) == PT_OK && n == 10, 11);
        CHILD_CHECK(store_conn_get(ro, "c00000000000009=", &r) == PT_OK, 12);
        CHILD_CHECK(!strcmp(r.stage, "prod"), 13);
        store_conn_clear(&r);
        store_batch_t *b = store_batch_new();
        r = make_rec(50, 1, 1);
        store_batch_put(b, &r);
        CHILD_CHECK(store_batch_commit(ro, b, NULL, NULL) == PT_EINVAL, 14);
        CHILD_CHECK(store_sweep(ro, 1, 2, NULL, NULL) == PT_EINVAL, 15);
        CHILD_CHECK(store_maintain(ro) >= 0, 16);
        store_batch_free(b);
        store_close(ro);
        _exit(0);
    }
    int status = wait_child(pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count(f->st), 10);
    assert_false(exists(f->st, 50));
}

/* The writer grows the map while a read-only process has it mapped smaller: the reader gets
 * MDB_MAP_RESIZED, adopts the new size and reads on. */
static void test_read_only_child_after_growth(void **state)
{
    fixture_t *f = *state;
    int up[2], down[2];
    char c;
    store_close(f->st);
    store_test_rm_rf(f->dir);
    f->st = open_store(f->dir, false, 64 << 10, 0);
    assert_int_equal(put_range(f->st, 0, 50, 1, 1), PT_OK);
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store_opts_t o = {.dir = f->dir, .read_only = true};
        store_t *ro;
        store_conn_t r;
        uint64_t n;
        CHILD_CHECK(store_open(&o, &ro, NULL, 0) == PT_OK, 10);
        CHILD_CHECK(store_conn_count(ro, &n) == PT_OK && n == 50, 11);
        CHILD_CHECK(write(up[1], "r", 1) == 1, 12);
        CHILD_CHECK(read(down[0], &c, 1) == 1, 13);
        CHILD_CHECK(store_conn_get(ro, "c00000000005049=", &r) == PT_OK, 14);
        store_conn_clear(&r);
        CHILD_CHECK(store_conn_count(ro, &n) == PT_OK && n == 5050, 15);
        store_info_t info;
        CHILD_CHECK(store_info(ro, &info) == PT_OK && info.map_size > 64 << 10, 16);
        store_close(ro);
        _exit(0);
    }
    assert_int_equal(read(up[0], &c, 1), 1);
    for (unsigned i = 50; i < 5050; i += 500)
        assert_int_equal(put_range(f->st, i, 500, 1, 1), PT_OK);
    assert_int_equal(write(down[1], "g", 1), 1);
    int status = wait_child(pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
}

static int die_in_txn(void *ctx, const store_conn_t *rec)
{
    (void)ctx;
    (void)rec;
    raise(SIGKILL);
    return 0;
}

/* A reader killed inside a read transaction leaves its slot; store_maintain clears it. */
static void test_stale_reader_cleared(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(put_range(f->st, 0, 1, 1, 1), PT_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store_opts_t o = {.dir = f->dir, .read_only = true};
        store_t *ro;
        CHILD_CHECK(store_open(&o, &ro, NULL, 0) == PT_OK, 10);
        store_conn_iter(ro, NULL, 0, die_in_txn, NULL);
        _exit(20); /* not reached */
    }
    int status = wait_child(pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_true(store_maintain(f->st) >= 1);
    assert_int_equal(store_maintain(f->st), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_creates_dirs),
        T(test_open_errors),
        T(test_put_get_touch_del),
        T(test_put_invalid),
        T(test_duplicate_put),
        T(test_batch_order),
        T(test_iter_paging),
        T(test_callbacks_cannot_write),
        T(test_sweep),
        T(test_sweep_stop),
        T(test_sweep_chunks),
        T(test_map_growth),
        T(test_map_full),
        T(test_concurrent_commits),
        T(test_read_only_child),
        T(test_read_only_child_after_growth),
        T(test_stale_reader_cleared),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
