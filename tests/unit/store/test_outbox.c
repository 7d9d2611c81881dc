/* test_outbox.c: unit tests of the $disconnect outbox: batches, reads, sweep, map full, codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/mem.h"
#include "store/store.h"
#include "store_test.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static int setup(void **state)
{
    fixture_t *f = pt_xcalloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/portico-outbox-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->st = open_store(f->dir, false, 0, 0);
    *state = f;
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

static void make_id(char out[STORE_ID_LEN + 1], unsigned n)
{
    snprintf(out, STORE_ID_LEN + 1, "c%014u=", n);
}

static store_conn_t make_rec(unsigned n, uint64_t epoch)
{
    store_conn_t r = {
        .node = 3,
        .worker = 1,
        .epoch = epoch,
        .connected_at_ms = 1700000000000 + n,
        .last_active_at_ms = 1700000000500 + n,
        .api_id = (char *)"abcde12345",
        .stage = (char *)"prod",
        .source_ip = (char *)"192.0.2.7",
        .user_agent = n % 2 ? (char *)"agent/1" : NULL,
        .domain_name = (char *)"ws.example.com",
        .authorizer_json = n % 3 ? NULL : (char *)"{\"principalId\":\"me\"}",
    };
    make_id(r.id, n);
    return r;
}

static store_outbox_t make_entry(unsigned n)
{
    store_outbox_t e = {
        .conn = make_rec(n, 7),
        .close_code = 1001,
        .close_reason = (char *)"Going away",
        .request_id = n % 2 ? (char *)"Ab3dE6gH8jK0mN2=" : NULL,
        .closed_at_ms = 1700000009000 + n,
        .attempts = n % 4,
    };
    return e;
}

static uint64_t nconns(store_t *st)
{
    uint64_t n = 0;
    assert_int_equal(store_conn_count(st, &n), PT_OK);
    return n;
}

static uint64_t nentries(store_t *st)
{
    uint64_t n = 0;
    assert_int_equal(store_outbox_count(st, &n), PT_OK);
    return n;
}

static void assert_entry_eq(const store_outbox_t *a, const store_outbox_t *b)
{
    assert_string_equal(a->conn.id, b->conn.id);
    assert_int_equal(a->conn.epoch, b->conn.epoch);
    assert_int_equal(a->conn.connected_at_ms, b->conn.connected_at_ms);
    assert_string_equal(a->conn.api_id, b->conn.api_id);
    assert_string_equal(a->conn.stage, b->conn.stage);
    assert_string_equal(a->conn.source_ip, b->conn.source_ip);
    assert_true((!a->conn.user_agent && !b->conn.user_agent) ||
                !strcmp(a->conn.user_agent, b->conn.user_agent));
    assert_true((!a->conn.authorizer_json && !b->conn.authorizer_json) ||
                !strcmp(a->conn.authorizer_json, b->conn.authorizer_json));
    assert_int_equal(a->close_code, b->close_code);
    assert_string_equal(a->close_reason ? a->close_reason : "",
                        b->close_reason ? b->close_reason : "");
    assert_true((!a->request_id && !b->request_id) || !strcmp(a->request_id, b->request_id));
    assert_int_equal(a->closed_at_ms, b->closed_at_ms);
    assert_int_equal(a->attempts, b->attempts);
}

/* The registry delete and the outbox put of a close land in one transaction. */
static void test_close_writes_both(void **state)
{
    fixture_t *f = *state;
    store_batch_t *b = store_batch_new();
    for (unsigned i = 0; i < 10; i++) {
        store_conn_t r = make_rec(i, 7);
        assert_int_equal(store_batch_put(b, &r), PT_OK);
    }
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    for (unsigned i = 0; i < 4; i++) {
        store_outbox_t e = make_entry(i);
        store_batch_del(b, e.conn.id);
        assert_int_equal(store_batch_outbox_put(b, &e), PT_OK);
    }
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    assert_int_equal(nconns(f->st), 6);
    assert_int_equal(nentries(f->st), 4);
    for (unsigned i = 0; i < 4; i++) {
        store_outbox_t want = make_entry(i), got;
        assert_int_equal(store_outbox_get(f->st, want.conn.id, &got), PT_OK);
        assert_entry_eq(&got, &want);
        store_outbox_clear(&got);
    }
    /* a replaced entry (a retry counts an attempt), then the delete when it is done */
    store_outbox_t e = make_entry(1);
    e.attempts = 3;
    assert_int_equal(store_batch_outbox_put(b, &e), PT_OK);
    store_batch_outbox_del(b, "c00000000000002=");
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    store_outbox_t got;
    assert_int_equal(store_outbox_get(f->st, e.conn.id, &got), PT_OK);
    assert_int_equal(got.attempts, 3);
    store_outbox_clear(&got);
    assert_int_equal(store_outbox_get(f->st, "c00000000000002=", &got), PT_ENOTFOUND);
    assert_int_equal(store_outbox_del(f->st, "c00000000000000="), PT_OK);
    assert_int_equal(store_outbox_del(f->st, "c00000000000000="), PT_OK); /* absent: fine */
    assert_int_equal(nentries(f->st), 2);
    store_batch_free(b);
}

static void test_put_invalid(void **state)
{
    fixture_t *f = *state;
    store_batch_t *b = store_batch_new();
    store_outbox_t e = make_entry(1);
    char reason[200];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    e.close_reason = reason;
    assert_int_equal(store_batch_outbox_put(b, &e), PT_EINVAL);
    e = make_entry(1);
    e.close_code = 70000;
    assert_int_equal(store_batch_outbox_put(b, &e), PT_EINVAL);
    e = make_entry(1);
    e.attempts = 256;
    assert_int_equal(store_batch_outbox_put(b, &e), PT_EINVAL);
    e = make_entry(1);
    e.conn.api_id = NULL;
    assert_int_equal(store_batch_outbox_put(b, &e), PT_EINVAL);
    e = make_entry(1);
    e.conn.id[0] = '\0';
    assert_int_equal(store_batch_outbox_put(b, &e), PT_EINVAL);
    assert_int_equal(store_batch_len(b), 0);
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    assert_int_equal(nentries(f->st), 0);
    store_batch_free(b);
}

typedef struct seen {
    char ids[64][STORE_ID_LEN + 1];
    unsigned n;
    unsigned stop_at;
} seen_t;

static int on_entry(void *ctx, const store_outbox_t *e)
{
    seen_t *s = ctx;
    snprintf(s->ids[s->n++], STORE_ID_LEN + 1, "%s", e->conn.id);
    return s->stop_at && s->n == s->stop_at;
}

static void test_iter(void **state)
{
    fixture_t *f = *state;
    store_batch_t *b = store_batch_new();
    for (unsigned i = 0; i < 20; i++) {
        store_outbox_t e = make_entry(i);
        assert_int_equal(store_batch_outbox_put(b, &e), PT_OK);
    }
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    seen_t s = {0};
    assert_int_equal(store_outbox_iter(f->st, NULL, 8, on_entry, &s), PT_OK);
    assert_int_equal(s.n, 8);
    assert_string_equal(s.ids[7], "c00000000000007=");
    assert_int_equal(store_outbox_iter(f->st, s.ids[7], 0, on_entry, &s), PT_OK);
    assert_int_equal(s.n, 20);
    assert_string_equal(s.ids[8], "c00000000000008=");
    seen_t t = {.stop_at = 3};
    assert_int_equal(store_outbox_iter(f->st, "", 0, on_entry, &t), PT_OK);
    assert_int_equal(t.n, 3);
    assert_int_equal(store_outbox_iter(f->st, "c000000000000000000=", 0, on_entry, &t), PT_EINVAL);
    store_batch_free(b);
}

/* Records of an earlier run become outbox entries in the transaction that deletes them. */
static void test_sweep_outbox(void **state)
{
    fixture_t *f = *state;
    store_batch_t *b = store_batch_new();
    for (unsigned i = 0; i < 30; i++) {
        store_conn_t r = make_rec(i, i % 3 == 0 ? 99 : 7); /* a third are of the current run */
        if (i == 29)
            r.node = 4; /* another node's */
        assert_int_equal(store_batch_put(b, &r), PT_OK);
    }
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    assert_int_equal(store_sweep_outbox(f->st, 3, 99, 1006, 1800000000000, NULL, NULL), 19);
    assert_int_equal(nconns(f->st), 11);
    assert_int_equal(nentries(f->st), 19);
    store_outbox_t e;
    assert_int_equal(store_outbox_get(f->st, "c00000000000001=", &e), PT_OK);
    assert_int_equal(e.close_code, 1006);
    assert_string_equal(e.close_reason, "");
    assert_null(e.request_id);
    assert_int_equal(e.attempts, 0);
    assert_int_equal(e.closed_at_ms, 1800000000000);
    assert_int_equal(e.conn.epoch, 7);
    assert_int_equal(e.conn.connected_at_ms, 1700000000001);
    assert_string_equal(e.conn.user_agent, "agent/1");
    store_outbox_clear(&e);
    assert_int_equal(store_outbox_get(f->st, "c00000000000003=", &e), PT_ENOTFOUND);
    assert_int_equal(store_sweep_outbox(f->st, 3, 99, 1006, 0, NULL, NULL), 0);
    assert_int_equal(store_sweep_outbox(f->st, 3, 99, -1, 0, NULL, NULL), PT_EINVAL);
    store_batch_free(b);
}

/* At its size limit the registry still shrinks: deletes (and outbox entries when they fit)
 * commit, the puts of that batch do not. */
static void test_map_full_sheds_puts(void **state)
{
    fixture_t *f = *state;
    store_close(f->st);
    store_test_rm_rf(f->dir);
    f->st = open_store(f->dir, false, 64 << 10, 128 << 10);
    store_batch_t *b = store_batch_new();
    unsigned next = 0;
    int rc = PT_OK;
    while (rc == PT_OK) {
        for (unsigned i = 0; i < 20; i++) {
            store_conn_t r = make_rec(next + i, 7);
            assert_int_equal(store_batch_put(b, &r), PT_OK);
        }
        rc = store_batch_commit(f->st, b, NULL, NULL);
        if (rc == PT_OK)
            next += 20;
        assert_true(next < 100000);
    }
    assert_int_equal(rc, PT_EMAPFULL);
    uint64_t full = nconns(f->st);
    assert_int_equal(full, next);
    /* A turn that closes 30 connections (delete + entry) and opens 20 more. */
    for (unsigned i = 0; i < 30; i++) {
        store_outbox_t e = make_entry(i);
        store_batch_del(b, e.conn.id);
        assert_int_equal(store_batch_outbox_put(b, &e), PT_OK);
    }
    for (unsigned i = 0; i < 20; i++) {
        store_conn_t r = make_rec(next + 1000 + i, 7);
        assert_int_equal(store_batch_put(b, &r), PT_OK);
    }
    rc = store_batch_commit(f->st, b, NULL, NULL);
    assert_true(rc == PT_OK || rc == PT_EMAPFULL);
    if (rc == PT_EMAPFULL)
        assert_int_equal(nconns(f->st), full - 30); /* no put, every delete */
    else
        assert_int_equal(nconns(f->st), full - 30 + 20);
    assert_true(nentries(f->st) <= 30);
    /* Deleting the entries frees room: puts fit again. */
    for (unsigned i = 0; i < 30; i++) {
        char id[STORE_ID_LEN + 1];
        make_id(id, i);
        store_batch_outbox_del(b, id);
    }
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    assert_int_equal(nentries(f->st), 0);
    store_conn_t r = make_rec(next + 5000, 7);
    assert_int_equal(store_batch_put(b, &r), PT_OK);
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    store_batch_free(b);
}

/* A registry at its size limit (a crash left it full) is still swept into the outbox at
 * start-up, in the reserve past the limit; the map is given back afterwards, and puts stay
 * refused until the entries are delivered. */
static void test_sweep_full_map(void **state)
{
    fixture_t *f = *state;
    store_close(f->st);
    store_test_rm_rf(f->dir);
    f->st = open_store(f->dir, false, 64 << 10, 128 << 10);
    store_batch_t *b = store_batch_new();
    unsigned next = 0;
    int rc = PT_OK;
    while (rc == PT_OK) {
        for (unsigned i = 0; i < 20; i++) {
            store_conn_t r = make_rec(next + i, 7);
            assert_int_equal(store_batch_put(b, &r), PT_OK);
        }
        rc = store_batch_commit(f->st, b, NULL, NULL);
        if (rc == PT_OK)
            next += 20;
    }
    assert_int_equal(rc, PT_EMAPFULL);
    assert_int_equal(store_sweep_outbox(f->st, 3, 8, 1006, 1800000000000, NULL, NULL), next);
    assert_int_equal(nconns(f->st), 0);
    assert_int_equal(nentries(f->st), next);
    store_info_t info;
    assert_int_equal(store_info(f->st, &info), PT_OK);
    assert_true(info.map_size <= (128 << 10) + (1 << 20));
    /* Delivering the entries frees the room again. */
    for (unsigned i = 0; i < next; i++) {
        char id[STORE_ID_LEN + 1];
        make_id(id, i);
        store_batch_outbox_del(b, id);
    }
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    store_conn_t r = make_rec(next + 1, 8);
    assert_int_equal(store_batch_put(b, &r), PT_OK);
    assert_int_equal(store_batch_commit(f->st, b, NULL, NULL), PT_OK);
    store_batch_free(b);
}

static void test_codec(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 6; i++) {
        store_outbox_t e = make_entry(i), d;
        char *enc;
        size_t len;
        assert_int_equal(store_outbox_encode(&e, &enc, &len), PT_OK);
        assert_int_equal(store_outbox_decode(e.conn.id, enc, len, &d), PT_OK);
        assert_entry_eq(&d, &e);
        store_outbox_clear(&d);
        /* every truncation and a trailing byte are refused */
        for (size_t n = 0; n < len; n++)
            assert_int_equal(store_outbox_decode("x", enc, n, &d), PT_EPARSE);
        char *more = pt_xmalloc(len + 1);
        memcpy(more, enc, len);
        more[len] = 0;
        assert_int_equal(store_outbox_decode("x", more, len + 1, &d), PT_EPARSE);
        /* a NUL in the reason, a length past the limit, another version */
        more[14] = 0;
        assert_int_equal(store_outbox_decode("x", more, len, &d), PT_EPARSE);
        memcpy(more, enc, len);
        more[12] = (char)200;
        assert_int_equal(store_outbox_decode("x", more, len, &d), PT_EPARSE);
        memcpy(more, enc, len);
        more[0] = 2;
        assert_int_equal(store_outbox_decode("x", more, len, &d), PT_EPARSE);
        assert_int_equal(store_outbox_decode("c000000000000000000=", enc, len, &d), PT_EPARSE);
        free(more);
        free(enc);
    }
}

/* A read-only handle (the CLI) on a registry written before the outbox existed. */
static void test_read_only_without_outbox(void **state)
{
    fixture_t *f = *state;
    char path[128];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    store_close(f->st);
    f->st = NULL;
    store_test_rm_rf(f->dir);
    mkdir(f->dir, 0700);
    snprintf(path, sizeof path, "%s/registry", f->dir);
    mkdir(path, 0700);
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4);
    assert_int_equal(mdb_env_open(env, path, MDB_NOSYNC, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "conns", MDB_CREATE, &dbi), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    f->st = open_store(f->dir, true, 0, 0);
    seen_t s = {0};
    assert_int_equal(nentries(f->st), 0);
    assert_int_equal(store_outbox_iter(f->st, NULL, 0, on_entry, &s), PT_OK);
    assert_int_equal(s.n, 0);
    store_outbox_t e;
    assert_int_equal(store_outbox_get(f->st, "c00000000000001=", &e), PT_ENOTFOUND);
    /* the writer creates it */
    store_close(f->st);
    f->st = open_store(f->dir, false, 0, 0);
    assert_int_equal(nentries(f->st), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_close_writes_both),
        T(test_put_invalid),
        T(test_iter),
        T(test_sweep_outbox),
        T(test_map_full_sheds_puts),
        T(test_sweep_full_map),
        T(test_codec),
        T(test_read_only_without_outbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
