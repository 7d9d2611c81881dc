/* test_crash.c: kill -9 of a process writing the registry and outbox mid-commit loses nothing. */
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
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * A child process runs two writer threads shaped like the gateway's workers: each batch puts
 * new registry records, touches some, closes some (registry delete + outbox put in one batch)
 * and settles some owed entries (outbox delete). A thread reports an id as committed ("P id")
 * only after its commit returned, and as possibly gone ("S id") before the commit that settles
 * it. The parent keeps its own handle open the whole time (another process holding the
 * environment, so LMDB's lock file and its mutexes survive the kill, as with a CLI or a backup
 * tool), a third process dies inside a read transaction, and the writer is killed at a random
 * moment, usually inside a commit. Then the start-up sweep runs and every id reported
 * committed and not settled must be owed in the outbox: none lost.
 */

#define ITERATIONS 8
#define MAX_IDS    4096

typedef struct writer {
    store_t *st;
    int fd;         /* the report file, O_APPEND: one write() per line */
    unsigned index; /* the id's first character, so the threads' ids never collide */
    unsigned seed;
} writer_t;

static void report(int fd, char kind, const char *id)
{
    char line[STORE_ID_LEN + 4];
    int n = snprintf(line, sizeof line, "%c %s\n", kind, id);
    if (write(fd, line, (size_t)n) != n)
        _exit(4);
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    store_batch_t *b = store_batch_new();
    char(*live)[STORE_ID_LEN + 1] = pt_xcalloc(MAX_IDS, STORE_ID_LEN + 1);
    char(*owed)[STORE_ID_LEN + 1] = pt_xcalloc(MAX_IDS, STORE_ID_LEN + 1);
    char(*added)[STORE_ID_LEN + 1] = pt_xcalloc(8, STORE_ID_LEN + 1);
    unsigned nlive = 0, nowed = 0, serial = 0;
    for (;;) {
        unsigned nadded = 0;
        for (unsigned k = rand_r(&w->seed) % 6; k > 0 && nlive < MAX_IDS; k--) {
            store_conn_t r = {.epoch = 5,
                              .worker = (uint8_t)w->index,
                              .connected_at_ms = 1700000000000,
                              .last_active_at_ms = 1700000000000,
                              .api_id = (char *)"abcde12345",
                              .stage = (char *)"prod",
                              .source_ip = (char *)"192.0.2.7",
                              .user_agent = (char *)"agent/1",
                              .domain_name = (char *)"ws.example.com"};
            snprintf(r.id, sizeof r.id, "%c%014u=", 'a' + w->index, serial++);
            store_batch_put(b, &r);
            memcpy(live[nlive++], r.id, sizeof r.id);
            memcpy(added[nadded++], r.id, sizeof r.id);
        }
        for (unsigned k = rand_r(&w->seed) % 4; k > 0 && nlive; k--)
            store_batch_touch(b, live[rand_r(&w->seed) % nlive], 1700000009999);
        for (unsigned k = rand_r(&w->seed) % 4; k > 0 && nlive && nowed < MAX_IDS; k--) {
            unsigned j = rand_r(&w->seed) % nlive;
            store_outbox_t e = {.close_code = 1001,
                                .close_reason = (char *)"bye",
                                .request_id = (char *)"AAAAAAAAAAAAAAA=",
                                .attempts = 1};
            e.conn = (store_conn_t){.epoch = 5,
                                    .api_id = (char *)"abcde12345",
                                    .stage = (char *)"prod",
                                    .source_ip = (char *)"192.0.2.7",
                                    .domain_name = (char *)"ws.example.com"};
            memcpy(e.conn.id, live[j], sizeof e.conn.id);
            store_batch_del(b, live[j]);
            if (store_batch_outbox_put(b, &e) != PT_OK)
                _exit(5);
            memcpy(owed[nowed++], live[j], sizeof live[j]);
            memcpy(live[j], live[--nlive], sizeof live[j]);
        }
        for (unsigned k = rand_r(&w->seed) % 4; k > 0 && nowed; k--) {
            unsigned j = rand_r(&w->seed) % nowed;
            report(w->fd, 'S', owed[j]); /* may be gone from the commit below on */
            store_batch_outbox_del(b, owed[j]);
            memcpy(owed[j], owed[--nowed], sizeof owed[j]);
        }
        if (store_batch_len(b) == 0)
            continue;
        if (store_batch_commit(w->st, b, NULL, NULL) != PT_OK)
            _exit(3);
        for (unsigned k = 0; k < nadded; k++)
            report(w->fd, 'P', added[k]);
    }
    return NULL;
}

/* The writer process: never returns (killed by the parent). */
static void run_writer(const char *dir, const char *reports[2], unsigned seed)
{
    store_opts_t o = {.dir = dir};
    store_t *st;
    if (store_open(&o, &st, NULL, 0) != PT_OK)
        _exit(2);
    writer_t w[2];
    pthread_t t[2];
    for (unsigned i = 0; i < 2; i++) {
        w[i] = (writer_t){.st = st, .index = i, .seed = seed * 31 + i};
        w[i].fd = open(reports[i], O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
        if (w[i].fd < 0 || pthread_create(&t[i], NULL, writer_main, &w[i]) != 0)
            _exit(2);
    }
    for (;;)
        pause();
}

/* A process that dies inside a read transaction: its reader slot stays until cleared. It writes
 * one byte to ready once the transaction is open. */
static void run_stale_reader(const char *dir, int ready)
{
    char path[128];
    MDB_env *env;
    MDB_txn *txn;
    snprintf(path, sizeof path, "%s/registry", dir);
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) ||
        mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS, 0600) ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) || write(ready, "r", 1) != 1)
        _exit(2);
    for (;;)
        pause();
}

static void kill_and_reap(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    assert_true(WIFSIGNALED(status)); /* it was still writing: not stopped by an error */
}

typedef struct ids {
    char (*v)[STORE_ID_LEN + 1]; /* owned */
    size_t n, cap;
} ids_t;

static void ids_add(ids_t *s, const char *id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = pt_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    memcpy(s->v[s->n], id, STORE_ID_LEN); /* callers pass ids of exactly STORE_ID_LEN */
    s->v[s->n++][STORE_ID_LEN] = '\0';
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool ids_has(const ids_t *s, const char *id)
{
    return bsearch(id, s->v, s->n, sizeof *s->v, id_cmp) != NULL;
}

static int on_owed(void *ctx, const store_outbox_t *e)
{
    ids_add(ctx, e->conn.id);
    return 0;
}

static void test_kill9_mid_commit_loses_nothing(void **state)
{
    (void)state;
    size_t checked = 0;
    for (unsigned it = 0; it < ITERATIONS; it++) {
        char dir[64], reports[2][96];
        strcpy(dir, "/tmp/portico-crash-XXXXXX");
        assert_non_null(mkdtemp(dir));
        const char *rp[2] = {reports[0], reports[1]};
        for (int i = 0; i < 2; i++)
            snprintf(reports[i], sizeof reports[i], "%s/written-%d", dir, i);
        store_opts_t o = {.dir = dir};
        store_t *keeper; /* this process: holds the environment open across the kill */
        assert_int_equal(store_open(&o, &keeper, NULL, 0), PT_OK);

        pid_t writer = fork();
        assert_true(writer >= 0);
        if (writer == 0)
            run_writer(dir, rp, it + 1);
        struct timespec d = {0, (long)(5 + rand() % 150) * 1000000L};
        nanosleep(&d, NULL);
        int ready[2];
        char c;
        assert_int_equal(pipe(ready), 0);
        pid_t stale = fork();
        assert_true(stale >= 0);
        if (stale == 0)
            run_stale_reader(dir, ready[1]);
        close(ready[1]);
        assert_int_equal(read(ready[0], &c, 1), 1); /* 0: it failed before its transaction */
        close(ready[0]);
        d.tv_nsec = (long)(rand() % 30) * 1000000L;
        nanosleep(&d, NULL);
        kill_and_reap(stale);
        kill_and_reap(writer);

        /* What was reported: committed (P) and possibly settled (S). */
        ids_t put = {0}, settled = {0}, owed = {0};
        for (int i = 0; i < 2; i++) {
            FILE *f = fopen(reports[i], "r");
            char line[64];
            assert_non_null(f);
            while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = '\0';
                if (strlen(line) == STORE_ID_LEN + 2)
                    ids_add(line[0] == 'P' ? &put : &settled, line + 2);
            }
            fclose(f);
        }
        assert_true(put.n > 0);
        qsort(settled.v, settled.n, sizeof *settled.v, id_cmp);

        /* The restart: stale readers cleared, the dead epoch's records swept into the outbox. */
        assert_true(store_maintain(keeper) >= 1);
        assert_true(store_sweep_outbox(keeper, 0, 6, 1006, 1800000000000, NULL, NULL) >= 0);
        uint64_t left = 1;
        assert_int_equal(store_conn_count(keeper, &left), PT_OK);
        assert_int_equal(left, 0);
        assert_int_equal(store_outbox_iter(keeper, NULL, 0, on_owed, &owed), PT_OK);
        qsort(owed.v, owed.n, sizeof *owed.v, id_cmp);
        for (size_t k = 0; k < put.n; k++) {
            if (ids_has(&settled, put.v[k]))
                continue;
            if (!ids_has(&owed, put.v[k]))
                fail_msg("iteration %u: %s was committed and is neither registered nor owed", it,
                         put.v[k]);
            checked++;
        }
        free(put.v);
        free(settled.v);
        free(owed.v);
        store_close(keeper);
        assert_int_equal(store_test_rm_rf(dir), 0);
    }
    print_message("%zu committed ids checked across %d kills\n", checked, ITERATIONS);
}

int main(void)
{
    srand((unsigned)time(NULL));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_mid_commit_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
