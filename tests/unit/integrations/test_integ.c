/* test_integ.c: the integration thread against an in-process HTTP/1.1 server (keep-alive, faults).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/http.h"
#include "common/mem.h"
#include "common/timefmt.h"
#include "integrations/integ.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ============================================================================================
 * The test server: one accept thread, one thread per connection, HTTP/1.1 keep-alive.
 * What it answers depends on the path:
 *   /ok              200, a few headers, "hello"
 *   /status/N        status N, body "status N"
 *   /echo            200, the request body
 *   /len             200, the request body's length in decimal
 *   /sleep/MS        waits MS ms (or until the peer leaves), then 200 "slept"
 *   /hold            waits until srv_release() (or the peer leaves), then 200 "held"
 *   /close           closes without answering
 *   /reset           resets the connection (SO_LINGER 0)
 *   /huge            200 with a 1 MiB body
 *   /exact/N         200 with an N-byte body
 *   /continue        "100 Continue" with a header, then 201 with another
 *   /chunked         200, chunked body "hello, world"
 * Every request is recorded (path, raw head + body); accepted connections are counted.
 * ========================================================================================== */

#define SRV_MAX_CONNS 256
#define SRV_MAX_RECS  4096
#define HUGE_BODY     (1024 * 1024)

typedef struct rec {
    char path[128];
    char *raw; /* owned: head and body as received */
    size_t raw_len;
    size_t head_len;
} rec_t;

typedef struct server {
    int lfd;
    int port;
    pthread_t accept_thr;
    pthread_mutex_t mu;
    int accepted;
    int active;
    int max_active;
    int fds[SRV_MAX_CONNS]; /* -1 once the connection thread closed it */
    pthread_t thr[SRV_MAX_CONNS];
    int nconn;
    rec_t *recs; /* owned, SRV_MAX_RECS entries */
    size_t nrecs;
    atomic_bool stop;
    atomic_bool released;
} server_t;

typedef struct conn_arg {
    server_t *srv;
    int idx;
} conn_arg_t;

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool respond(int fd, int status, const char *extra, const char *body, size_t len,
                    bool head_only)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\n\r\n", status, http_reason(status),
               extra ? extra : "", len);
    if (!head_only)
        buf_append(&b, body, len);
    bool ok = send_all(fd, b.p, b.len);
    buf_free(&b);
    return ok;
}

/* Waits ms milliseconds, or until the server stops, the hold is released (hold mode), or the
 * peer closes (or sends something). Returns false when the connection should be dropped. */
static bool srv_wait(server_t *srv, int fd, int ms, bool hold)
{
    int64_t deadline = time_mono_ms() + ms;
    for (;;) {
        if (atomic_load(&srv->stop))
            return false;
        if (hold && atomic_load(&srv->released))
            return true;
        int64_t left = deadline - time_mono_ms();
        if (!hold && left <= 0)
            return true;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)(hold || left > 20 ? 20 : left));
        if (r > 0)
            return false;
    }
}

static void srv_record(server_t *srv, const char *path, size_t path_len, const char *raw,
                       size_t raw_len, size_t head_len)
{
    pthread_mutex_lock(&srv->mu);
    if (srv->nrecs < SRV_MAX_RECS) {
        rec_t *r = &srv->recs[srv->nrecs++];
        snprintf(r->path, sizeof r->path, "%.*s", (int)path_len, path);
        r->raw = pt_xmemdup(raw, raw_len);
        r->raw_len = raw_len;
        r->head_len = head_len;
    }
    pthread_mutex_unlock(&srv->mu);
}

static bool path_is(const http_request_t *req, const char *p)
{
    return req->path_len == strlen(p) && memcmp(req->path, p, req->path_len) == 0;
}

static bool path_arg(const http_request_t *req, const char *prefix, long *arg)
{
    size_t n = strlen(prefix);
    if (req->path_len <= n || memcmp(req->path, prefix, n) != 0)
        return false;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(req->path_len - n), req->path + n);
    *arg = strtol(tmp, NULL, 10);
    return true;
}

/* Answers one request. Returns false when the connection must be closed. */
static bool srv_answer(server_t *srv, int fd, const http_request_t *req, const char *body,
                       size_t body_len)
{
    bool head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    long arg;
    if (path_is(req, "/ok"))
        return respond(fd, 200,
                       "Content-Type: text/plain\r\nX-Test: yes\r\nX-Spaced:   padded value  \r\n",
                       "hello", 5, head);
    if (path_arg(req, "/status/", &arg)) {
        char b[32];
        int n = snprintf(b, sizeof b, "status %ld", arg);
        return respond(fd, (int)arg, NULL, b, (size_t)n, head);
    }
    if (path_is(req, "/echo"))
        return respond(fd, 200, "Content-Type: application/octet-stream\r\n", body, body_len, head);
    if (path_is(req, "/len")) {
        char b[32];
        int n = snprintf(b, sizeof b, "%zu", body_len);
        return respond(fd, 200, NULL, b, (size_t)n, head);
    }
    if (path_arg(req, "/sleep/", &arg))
        return srv_wait(srv, fd, (int)arg, false) && respond(fd, 200, NULL, "slept", 5, head);
    if (path_is(req, "/hold"))
        return srv_wait(srv, fd, 0, true) && respond(fd, 200, NULL, "held", 4, head);
    if (path_is(req, "/close"))
        return false;
    if (path_is(req, "/reset")) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        return false;
    }
    if (path_is(req, "/huge") || path_arg(req, "/exact/", &arg)) {
        size_t n = path_is(req, "/huge") ? HUGE_BODY : (size_t)arg;
        char *big = pt_xmalloc(n);
        memset(big, 'x', n);
        bool ok = respond(fd, 200, NULL, big, n, head);
        free(big);
        return ok;
    }
    if (path_is(req, "/continue")) {
        static const char r[] = "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                                "HTTP/1.1 201 Created\r\nX-Final: 1\r\nContent-Length: 2\r\n\r\nok";
        return send_all(fd, r, sizeof r - 1);
    }
    if (path_is(req, "/chunked")) {
        static const char r[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
        return send_all(fd, r, sizeof r - 1);
    }
    return respond(fd, 404, NULL, "no such path", 12, head);
}

static void *srv_conn_main(void *arg)
{
    conn_arg_t *ca = arg;
    server_t *srv = ca->srv;
    int idx = ca->idx;
    free(ca);
    pthread_mutex_lock(&srv->mu);
    int fd = srv->fds[idx];
    pthread_mutex_unlock(&srv->mu);

    buf_t in = BUF_INIT;
    http_request_t *req = pt_xmalloc(sizeof *req); /* owned; large */
    char chunk[65536];
    for (;;) {
        int rc = in.len ? http_parse_request(in.p, in.len, req) : PT_EAGAIN;
        size_t need = 0;
        uint64_t cl = 0;
        if (rc == PT_OK) {
            const http_header_t *h = http_find_header(req, "Content-Length");
            if (h && http_parse_u64(h->value, h->value_len, &cl) != PT_OK)
                break;
            need = req->head_len + (size_t)cl;
        }
        if (rc == PT_OK && in.len >= need) {
            srv_record(srv, req->path, req->path_len, in.p, need, req->head_len);
            const http_header_t *conn = http_find_header(req, "Connection");
            bool close_after = conn && http_value_has_token(conn->value, conn->value_len, "close");
            if (!srv_answer(srv, fd, req, in.p + req->head_len, (size_t)cl) || close_after)
                break;
            buf_consume(&in, need);
            continue;
        }
        if (rc != PT_OK && rc != PT_EAGAIN)
            break;
        ssize_t r = recv(fd, chunk, sizeof chunk, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        buf_append(&in, chunk, (size_t)r);
    }
    free(req);
    buf_free(&in);
    pthread_mutex_lock(&srv->mu);
    srv->fds[idx] = -1;
    srv->active--;
    close(fd);
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

static void *srv_accept_main(void *arg)
{
    server_t *srv = arg;
    for (;;) {
        int fd = accept(srv->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR && !atomic_load(&srv->stop))
                continue;
            break;
        }
        pthread_mutex_lock(&srv->mu);
        if (atomic_load(&srv->stop) || srv->nconn == SRV_MAX_CONNS) {
            pthread_mutex_unlock(&srv->mu);
            close(fd);
            continue;
        }
        int idx = srv->nconn++;
        srv->fds[idx] = fd;
        srv->accepted++;
        if (++srv->active > srv->max_active)
            srv->max_active = srv->active;
        conn_arg_t *ca = pt_xmalloc(sizeof *ca); /* owned by the connection thread */
        ca->srv = srv;
        ca->idx = idx;
        if (pthread_create(&srv->thr[idx], NULL, srv_conn_main, ca) != 0)
            abort();
        pthread_mutex_unlock(&srv->mu);
    }
    return NULL;
}

static server_t *srv_start(void)
{
    server_t *srv = pt_xcalloc(1, sizeof *srv);
    srv->recs = pt_xcalloc(SRV_MAX_RECS, sizeof *srv->recs);
    pthread_mutex_init(&srv->mu, NULL);
    srv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(srv->lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(srv->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(srv->lfd, 512), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(srv->lfd, (struct sockaddr *)&sa, &sl), 0);
    srv->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&srv->accept_thr, NULL, srv_accept_main, srv), 0);
    return srv;
}

static void srv_release(server_t *srv)
{
    atomic_store(&srv->released, true);
}

static void srv_stop(server_t *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->stop, true);
    shutdown(srv->lfd, SHUT_RDWR); /* wakes accept() */
    pthread_join(srv->accept_thr, NULL);
    pthread_mutex_lock(&srv->mu);
    for (int i = 0; i < srv->nconn; i++) {
        if (srv->fds[i] >= 0)
            shutdown(srv->fds[i], SHUT_RDWR);
    }
    int n = srv->nconn;
    pthread_mutex_unlock(&srv->mu);
    for (int i = 0; i < n; i++)
        pthread_join(srv->thr[i], NULL);
    close(srv->lfd);
    for (size_t i = 0; i < srv->nrecs; i++)
        free(srv->recs[i].raw);
    free(srv->recs);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

static int srv_accepted(server_t *srv)
{
    pthread_mutex_lock(&srv->mu);
    int n = srv->accepted;
    pthread_mutex_unlock(&srv->mu);
    return n;
}

/* The latest request recorded for path (a copy: the caller frees it). */
static char *srv_last(server_t *srv, const char *path, size_t *len, size_t *head_len)
{
    char *out = NULL;
    pthread_mutex_lock(&srv->mu);
    for (size_t i = srv->nrecs; i-- > 0;) {
        if (strcmp(srv->recs[i].path, path) == 0) {
            out = pt_xstrndup(srv->recs[i].raw, srv->recs[i].raw_len);
            *len = srv->recs[i].raw_len;
            *head_len = srv->recs[i].head_len;
            break;
        }
    }
    pthread_mutex_unlock(&srv->mu);
    return out;
}

/* ============================================================================================
 * Completion tracking: done() counts per job index and remembers the thread it ran on.
 * ========================================================================================== */

typedef struct tracker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n;
    int total;
    int *count;         /* owned, n entries */
    pthread_t *thread;  /* owned, n entries */
    integ_job_t **jobs; /* owned array; the jobs are freed by tracker_free */
} tracker_t;

static void tracker_init(tracker_t *t, size_t n)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->n = n;
    t->count = pt_xcalloc(n, sizeof *t->count);
    t->thread = pt_xcalloc(n, sizeof *t->thread);
    t->jobs = pt_xcalloc(n, sizeof *t->jobs);
}

static void tracker_free(tracker_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        integ_job_free(t->jobs[i]);
    free(t->jobs);
    free(t->thread);
    free(t->count);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

static void on_done(integ_job_t *job)
{
    tracker_t *t = job->user;
    pthread_mutex_lock(&t->mu);
    t->count[job->user_u64]++;
    t->thread[job->user_u64] = pthread_self();
    t->total++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static bool tracker_wait(tracker_t *t, int total, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&t->mu);
    while (t->total < total) {
        if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT)
            break;
    }
    bool ok = t->total >= total;
    pthread_mutex_unlock(&t->mu);
    return ok;
}

static int tracker_count(tracker_t *t, size_t i)
{
    pthread_mutex_lock(&t->mu);
    int c = t->count[i];
    pthread_mutex_unlock(&t->mu);
    return c;
}

/* ============================================================================================
 * Fixture: a server and an integration thread per test.
 * ========================================================================================== */

typedef struct fx {
    server_t *srv;
    integ_t *it; /* NULL once a test stopped it */
} fx_t;

static int fx_setup(void **state)
{
    fx_t *f = pt_xcalloc(1, sizeof *f);
    f->srv = srv_start();
    integ_opts_t o = {.max_host_connections = 0};
    assert_int_equal(integ_start(&o, &f->it), PT_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *f = *state;
    integ_stop(f->it, 0);
    srv_stop(f->srv);
    free(f);
    return 0;
}

static integ_job_t *job_make(int port, const char *method, const char *path, const char *headers,
                             const char *body, size_t body_len)
{
    integ_job_t *j = integ_job_new();
    j->method = pt_xstrdup(method);
    buf_t url = BUF_INIT;
    buf_printf(&url, "http://127.0.0.1:%d%s", port, path);
    j->url = buf_steal(&url, NULL);
    if (headers)
        buf_puts(&j->req_headers, headers);
    if (body) {
        j->req_body = pt_xmemdup(body, body_len);
        j->req_body_len = body_len;
    }
    j->done = on_done;
    return j;
}

/* Submits one job tracked as index 0 of t and waits for it. */
static integ_job_t *run_one(integ_t *it, tracker_t *t, integ_job_t *j)
{
    tracker_init(t, 1);
    t->jobs[0] = j;
    j->user = t;
    j->user_u64 = 0;
    integ_submit(it, j);
    assert_true(tracker_wait(t, 1, 10000));
    assert_int_equal(tracker_count(t, 0), 1);
    return j;
}

/* True when the request head contains the header line (case-sensitive, whole line). */
static bool head_has_line(const char *raw, size_t head_len, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = raw; p && p + n + 2 <= raw + head_len;) {
        const char *eol = memmem(p, (size_t)(raw + head_len - p), "\r\n", 2);
        if (!eol)
            break;
        if ((size_t)(eol - p) == n && memcmp(p, line, n) == 0)
            return true;
        p = eol + 2;
    }
    return false;
}

/* True when the head has a header with this name (case-insensitive). */
static bool head_has_name(const char *raw, size_t head_len, const char *name)
{
    http_request_t *req = pt_xmalloc(sizeof *req);
    bool found = false;
    if (http_parse_request(raw, head_len, req) == PT_OK)
        found = http_find_header(req, name) != NULL;
    free(req);
    return found;
}

static void assert_no_curl_defaults(const char *raw, size_t head_len)
{
    assert_false(head_has_name(raw, head_len, "Accept"));
    assert_false(head_has_name(raw, head_len, "Expect"));
    assert_false(head_has_name(raw, head_len, "User-Agent"));
    assert_false(head_has_name(raw, head_len, "Accept-Encoding"));
    assert_false(head_has_name(raw, head_len, "Transfer-Encoding"));
    assert_false(head_has_name(raw, head_len, "Proxy-Connection"));
}

/* A port that is bound but not listening: connecting to it is refused. */
static int refusing_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        abort();
    socklen_t sl = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        abort();
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ============================================================================================
 * Tests
 * ========================================================================================== */

static void test_get_roundtrip(void **state)
{
    fx_t *f = *state;
    tracker_t t;
    integ_job_t *j = run_one(f->it, &t,
                             job_make(f->srv->port, "GET", "/ok",
                                      "X-One: 1\r\nX-Two: two words\r\nX-Empty:\r\n", NULL, 0));
    assert_int_equal(j->error, PT_OK);
    assert_string_equal(j->errmsg, "");
    assert_int_equal(j->status, 200);
    assert_int_equal(j->resp_body.len, 5);
    assert_memory_equal(j->resp_body.p, "hello", 5);
    assert_string_equal(integ_job_header(j, "x-test"), "yes");
    assert_string_equal(integ_job_header(j, "X-Spaced"), "padded value");
    assert_string_equal(integ_job_header(j, "content-type"), "text/plain");
    assert_string_equal(integ_job_header(j, "Content-Length"), "5");
    assert_null(integ_job_header(j, "X-Missing"));
    assert_int_equal(j->nresp_headers, 4);
    /* a lost wake-up would leave the job waiting for the 1 s poll timeout */
    assert_true(j->latency_us > 0 && j->latency_us < 500000);
    assert_int_equal(integ_inflight(f->it), 0);

    size_t len, head_len;
    char *raw = srv_last(f->srv, "/ok", &len, &head_len);
    assert_non_null(raw);
    char want[256];
    snprintf(want, sizeof want,
             "GET /ok HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-One: 1\r\nX-Two: two words\r\n"
             "X-Empty:\r\n\r\n",
             f->srv->port);
    assert_string_equal(raw, want);
    assert_int_equal(len, head_len);
    free(raw);
    tracker_free(&t);
}

static void test_post_roundtrip(void **state)
{
    fx_t *f = *state;
    char body[200];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)('a' + i % 26);
    tracker_t t;
    integ_job_t *j =
        run_one(f->it, &t,
                job_make(f->srv->port, "POST", "/echo?q=1",
                         "X-Amz-Date: 20240101T000000Z\r\nX-A: a\r\n", body, sizeof body));
    assert_int_equal(j->error, PT_OK);
    assert_int_equal(j->status, 200);
    assert_int_equal(j->resp_body.len, sizeof body);
    assert_memory_equal(j->resp_body.p, body, sizeof body);
    assert_string_equal(integ_job_header(j, "Content-Type"), "application/octet-stream");

    size_t len, head_len;
    char *raw = srv_last(f->srv, "/echo", &len, &head_len);
    assert_non_null(raw);
    char want[256];
    int n = snprintf(want, sizeof want,
                     "POST /echo?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "X-Amz-Date: 20240101T000000Z\r\nX-A: a\r\nContent-Length: 200\r\n\r\n",
                     f->srv->port);
    assert_int_equal(head_len, (size_t)n);
    assert_memory_equal(raw, want, head_len);
    assert_int_equal(len, head_len + sizeof body);
    assert_memory_equal(raw + head_len, body, sizeof body);
    assert_no_curl_defaults(raw, head_len);
    assert_false(head_has_name(raw, head_len, "Content-Type"));
    free(raw);
    tracker_free(&t);
}

static void test_post_keeps_job_content_type(void **state)
{
    fx_t *f = *state;
    tracker_t t;
    integ_job_t *j =
        run_one(f->it, &t,
                job_make(f->srv->port, "POST", "/echo",
                         "Content-Type: application/json\r\nAccept: text/csv\r\n", "{}", 2));
    assert_int_equal(j->error, PT_OK);
    size_t len, head_len;
    char *raw = srv_last(f->srv, "/echo", &len, &head_len);
    assert_non_null(raw);
    assert_true(head_has_line(raw, head_len, "Content-Type: application/json"));
    assert_true(head_has_line(raw, head_len, "Accept: text/csv"));
    assert_true(head_has_line(raw, head_len, "Content-Length: 2"));
    /* exactly one of each */
    assert_null(strstr(strstr(raw, "Content-Type") + 1, "Content-Type"));
    assert_null(strstr(strstr(raw, "Accept") + 1, "Accept"));
    free(raw);
    tracker_free(&t);
}

/* Methods: the request line, the body, and Content-Length only when there is a body. */
static void test_methods(void **state)
{
    fx_t *f = *state;
    static const struct {
        const char *method;
        const char *body;           /* NULL: no body */
        const char *content_length; /* expected header line, NULL: none */
    } cases[] = {
        {"GET", NULL, NULL},
        {"POST", NULL, "Content-Length: 0"},
        {"POST", "p", "Content-Length: 1"},
        {"PUT", "put-body", "Content-Length: 8"},
        {"PUT", NULL, "Content-Length: 0"},
        {"PATCH", "{\"a\":1}", "Content-Length: 7"},
        {"DELETE", NULL, NULL},
        {"DELETE", "gone", "Content-Length: 4"},
        {"OPTIONS", NULL, NULL},
        {"PURGE", "x", "Content-Length: 1"},
        {"HEAD", NULL, NULL},
        {"HEAD", "not sent", NULL},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(cases); i++) {
        const char *b = cases[i].body;
        tracker_t t;
        integ_job_t *j = run_one(
            f->it, &t,
            job_make(f->srv->port, cases[i].method, "/echo", "X-M: 1\r\n", b, b ? strlen(b) : 0));
        assert_int_equal(j->error, PT_OK);
        assert_int_equal(j->status, 200);
        bool head = !strcmp(cases[i].method, "HEAD");
        if (head)
            b = NULL; /* a HEAD request never carries a body */
        assert_int_equal(j->resp_body.len, b ? strlen(b) : 0);
        size_t len, head_len;
        char *raw = srv_last(f->srv, "/echo", &len, &head_len);
        assert_non_null(raw);
        char line[64];
        snprintf(line, sizeof line, "%s /echo HTTP/1.1\r\n", cases[i].method);
        assert_memory_equal(raw, line, strlen(line));
        assert_true(head_has_line(raw, head_len, "X-M: 1"));
        if (cases[i].content_length)
            assert_true(head_has_line(raw, head_len, cases[i].content_length));
        else
            assert_false(head_has_name(raw, head_len, "Content-Length"));
        assert_int_equal(len - head_len, b ? strlen(b) : 0);
        if (b)
            assert_memory_equal(raw + head_len, b, strlen(b));
        assert_no_curl_defaults(raw, head_len);
        assert_false(head_has_name(raw, head_len, "Content-Type"));
        free(raw);
        tracker_free(&t);
    }
    assert_int_equal(srv_accepted(f->srv), 1);
}

/* curl sends "Expect: 100-continue" on its own for bodies over 1 MiB and then waits up to a
 * second for the 100; the job's headers must go out as given instead. */
static void test_large_post_no_expect(void **state)
{
    fx_t *f = *state;
    size_t n = 1536 * 1024;
    char *body = pt_xmalloc(n);
    memset(body, 'b', n);
    tracker_t t;
    int64_t t0 = time_mono_ms();
    integ_job_t *j = run_one(f->it, &t, job_make(f->srv->port, "POST", "/len", NULL, body, n));
    assert_true(time_mono_ms() - t0 < 900);
    assert_int_equal(j->error, PT_OK);
    assert_string_equal(j->resp_body.p, "1572864");
    size_t len, head_len;
    char *raw = srv_last(f->srv, "/len", &len, &head_len);
    assert_non_null(raw);
    assert_no_curl_defaults(raw, head_len);
    assert_false(head_has_name(raw, head_len, "Content-Type"));
    assert_true(head_has_line(raw, head_len, "Content-Length: 1572864"));
    free(raw);
    free(body);
    tracker_free(&t);
}

static void test_status_codes(void **state)
{
    fx_t *f = *state;
    static const int codes[] = {200, 400, 502, 204};
    for (size_t i = 0; i < PT_ARRAY_LEN(codes); i++) {
        char path[32], want[32];
        snprintf(path, sizeof path, "/status/%d", codes[i]);
        snprintf(want, sizeof want, "status %d", codes[i]);
        tracker_t t;
        integ_job_t *j = run_one(f->it, &t, job_make(f->srv->port, "GET", path, NULL, NULL, 0));
        assert_int_equal(j->error, PT_OK);
        assert_int_equal(j->status, codes[i]);
        if (codes[i] != 204)
            assert_string_equal(j->resp_body.p, want);
        tracker_free(&t);
    }
}

static void test_interim_response_headers_dropped(void **state)
{
    fx_t *f = *state;
    tracker_t t;
    integ_job_t *j = run_one(f->it, &t, job_make(f->srv->port, "GET", "/continue", NULL, NULL, 0));
    assert_int_equal(j->error, PT_OK);
    assert_int_equal(j->status, 201);
    assert_string_equal(integ_job_header(j, "X-Final"), "1");
    assert_null(integ_job_header(j, "X-Interim"));
    assert_int_equal(j->nresp_headers, 2);
    assert_string_equal(j->resp_body.p, "ok");
    tracker_free(&t);
}

static void test_chunked_response(void **state)
{
    fx_t *f = *state;
    tracker_t t;
    integ_job_t *j = run_one(f->it, &t, job_make(f->srv->port, "GET", "/chunked", NULL, NULL, 0));
    assert_int_equal(j->error, PT_OK);
    assert_int_equal(j->resp_body.len, 12);
    assert_string_equal(j->resp_body.p, "hello, world");
    tracker_free(&t);
}

static void test_timeout(void **state)
{
    fx_t *f = *state;
    tracker_t t;
    integ_job_t *j = job_make(f->srv->port, "GET", "/sleep/5000", NULL, NULL, 0);
    j->timeout_ms = 200;
    run_one(f->it, &t, j);
    assert_int_equal(j->error, PT_ETIMEOUT);
    assert_true(j->errmsg[0] != '\0');
    assert_true(j->latency_us >= 190000);
    assert_true(j->latency_us < 2000000);
    tracker_free(&t);
}

static void test_refused(void **state)
{
    fx_t *f = *state;
    /* bound but not listening: refused, and the port stays ours meanwhile */
    int port;
    int fd = refusing_socket(&port);
    tracker_t t;
    integ_job_t *j = run_one(f->it, &t, job_make(port, "GET", "/", NULL, NULL, 0));
    close(fd);
    assert_int_equal(j->error, PT_EIO);
    assert_true(j->errmsg[0] != '\0');
    assert_int_equal(j->nresp_headers, 0);
    tracker_free(&t);
}

static void test_reset_and_close(void **state)
{
    fx_t *f = *state;
    static const char *paths[] = {"/reset", "/close"};
    for (size_t i = 0; i < PT_ARRAY_LEN(paths); i++) {
        tracker_t t;
        integ_job_t *j = run_one(f->it, &t, job_make(f->srv->port, "GET", paths[i], NULL, NULL, 0));
        assert_int_equal(j->error, PT_EIO);
        assert_true(j->errmsg[0] != '\0');
        tracker_free(&t);
    }
}

static void test_bad_url(void **state)
{
    fx_t *f = *state;
    tracker_t t;
    integ_job_t *j = job_make(f->srv->port, "GET", "/", NULL, NULL, 0);
    free(j->url);
    j->url = pt_xstrdup("ftp://127.0.0.1/file");
    run_one(f->it, &t, j);
    assert_int_equal(j->error, PT_EINVAL);
    assert_true(j->errmsg[0] != '\0');
    tracker_free(&t);
}

/* Lines curl would send verbatim must not let a value forge a header or a request line. */
static void test_invalid_request(void **state)
{
    fx_t *f = *state;
    static const struct {
        const char *method;
        const char *headers;
    } cases[] = {
        {"GE T", NULL},
        {"GET\r\nX-Evil: 1", NULL},
        {"", NULL},
        {"GET", "X-A: a\rX-Evil: 1\r\n"},
        {"GET", "Bad Name: x\r\n"},
        {"GET", "no colon here\r\n"},
        {"GET", ": no name\r\n"},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(cases); i++) {
        tracker_t t;
        integ_job_t *j = run_one(
            f->it, &t, job_make(f->srv->port, cases[i].method, "/ok", cases[i].headers, NULL, 0));
        assert_int_equal(j->error, PT_EINVAL);
        assert_true(j->errmsg[0] != '\0');
        tracker_free(&t);
    }
    /* a NUL inside a line (buf_t carries it) */
    tracker_t t;
    integ_job_t *j = job_make(f->srv->port, "GET", "/ok", NULL, NULL, 0);
    buf_append(&j->req_headers, "X-A: a\0b\r\n", 10);
    run_one(f->it, &t, j);
    assert_int_equal(j->error, PT_EINVAL);
    tracker_free(&t);
    /* empty lines are skipped, not an error */
    j = run_one(f->it, &t, job_make(f->srv->port, "GET", "/ok", "\r\nX-A: a\r\n\r\n", NULL, 0));
    assert_int_equal(j->error, PT_OK);
    tracker_free(&t);
    assert_int_equal(srv_accepted(f->srv), 1);
}

static void test_body_cap(void **state)
{
    fx_t *f = *state;
    tracker_t t;
    integ_job_t *j = job_make(f->srv->port, "GET", "/huge", NULL, NULL, 0);
    j->max_response = 1000;
    run_one(f->it, &t, j);
    assert_int_equal(j->error, PT_ETOOBIG);
    assert_true(j->resp_body.len <= 1000);
    tracker_free(&t);

    j = job_make(f->srv->port, "GET", "/exact/1000", NULL, NULL, 0);
    j->max_response = 1000;
    run_one(f->it, &t, j);
    assert_int_equal(j->error, PT_OK);
    assert_int_equal(j->resp_body.len, 1000);
    tracker_free(&t);

    j = job_make(f->srv->port, "GET", "/huge", NULL, NULL, 0); /* default cap: 10 MiB */
    run_one(f->it, &t, j);
    assert_int_equal(j->error, PT_OK);
    assert_int_equal(j->resp_body.len, HUGE_BODY);
    tracker_free(&t);
}

static void test_keepalive_sequential(void **state)
{
    fx_t *f = *state;
    int64_t t0 = time_mono_ms();
    for (int i = 0; i < 50; i++) {
        tracker_t t;
        integ_job_t *j = run_one(f->it, &t, job_make(f->srv->port, "POST", "/echo", NULL, "x", 1));
        assert_int_equal(j->error, PT_OK);
        tracker_free(&t);
    }
    assert_int_equal(srv_accepted(f->srv), 1);
    assert_true(time_mono_ms() - t0 < 5000);
}

static void test_keepalive_concurrent_bounded(void **state)
{
    fx_t *f = *state;
    integ_stop(f->it, 0);
    integ_opts_t o = {.max_host_connections = 4};
    assert_int_equal(integ_start(&o, &f->it), PT_OK);
    enum { N = 200 };
    tracker_t t;
    tracker_init(&t, N);
    for (size_t i = 0; i < N; i++) {
        integ_job_t *j = job_make(f->srv->port, "GET", "/sleep/5", NULL, NULL, 0);
        j->user = &t;
        j->user_u64 = i;
        t.jobs[i] = j;
        integ_submit(f->it, j);
    }
    assert_true(tracker_wait(&t, N, 15000));
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(tracker_count(&t, i), 1);
        assert_int_equal(t.jobs[i]->error, PT_OK);
        assert_string_equal(t.jobs[i]->resp_body.p, "slept");
    }
    int accepted = srv_accepted(f->srv);
    assert_true(accepted >= 2 && accepted <= 4);
    pthread_mutex_lock(&f->srv->mu);
    assert_true(f->srv->max_active <= 4);
    pthread_mutex_unlock(&f->srv->mu);
    assert_int_equal(integ_inflight(f->it), 0);
    tracker_free(&t);
}

/* A job waiting for a connection (max_host_connections reached) still times out on time. */
static void test_timeout_while_queued_for_connection(void **state)
{
    fx_t *f = *state;
    integ_stop(f->it, 0);
    integ_opts_t o = {.max_host_connections = 1};
    assert_int_equal(integ_start(&o, &f->it), PT_OK);
    tracker_t t;
    tracker_init(&t, 2);
    t.jobs[0] = job_make(f->srv->port, "GET", "/sleep/800", NULL, NULL, 0);
    t.jobs[1] = job_make(f->srv->port, "GET", "/ok", NULL, NULL, 0);
    t.jobs[1]->timeout_ms = 200;
    for (size_t i = 0; i < 2; i++) {
        t.jobs[i]->user = &t;
        t.jobs[i]->user_u64 = i;
        integ_submit(f->it, t.jobs[i]);
    }
    assert_true(tracker_wait(&t, 2, 10000));
    assert_int_equal(t.jobs[0]->error, PT_OK);
    assert_int_equal(t.jobs[1]->error, PT_ETIMEOUT);
    assert_true(t.jobs[1]->latency_us >= 190000 && t.jobs[1]->latency_us < 650000);
    assert_string_equal(t.jobs[1]->errmsg, "timed out after 200 ms");
    tracker_free(&t);
}

typedef struct submitter {
    fx_t *f;
    tracker_t *t;
    size_t first, count;
} submitter_t;

static void *submit_main(void *arg)
{
    submitter_t *s = arg;
    for (size_t i = s->first; i < s->first + s->count; i++) {
        integ_job_t *j = job_make(s->f->srv->port, i % 2 ? "POST" : "GET", "/echo", NULL,
                                  i % 2 ? "data" : NULL, i % 2 ? 4 : 0);
        j->user = s->t;
        j->user_u64 = i;
        s->t->jobs[i] = j;
        integ_submit(s->f->it, j);
    }
    return NULL;
}

static void test_many_submitters(void **state)
{
    fx_t *f = *state;
    enum { THREADS = 4, PER = 250 };
    tracker_t t;
    tracker_init(&t, THREADS * PER);
    pthread_t thr[THREADS];
    submitter_t sub[THREADS];
    for (size_t i = 0; i < THREADS; i++) {
        sub[i] = (submitter_t){.f = f, .t = &t, .first = i * PER, .count = PER};
        assert_int_equal(pthread_create(&thr[i], NULL, submit_main, &sub[i]), 0);
    }
    for (size_t i = 0; i < THREADS; i++)
        pthread_join(thr[i], NULL);
    assert_true(tracker_wait(&t, THREADS * PER, 15000));
    for (size_t i = 0; i < THREADS * PER; i++) {
        assert_int_equal(tracker_count(&t, i), 1);
        assert_int_equal(t.jobs[i]->error, PT_OK);
        assert_int_equal(t.jobs[i]->resp_body.len, i % 2 ? 4 : 0);
    }
    assert_int_equal(integ_inflight(f->it), 0);
    pthread_mutex_lock(&t.mu);
    assert_int_equal(t.total, THREADS * PER);
    pthread_mutex_unlock(&t.mu);
    assert_true(srv_accepted(f->srv) <= 64);
    tracker_free(&t);
}

static void test_inflight(void **state)
{
    fx_t *f = *state;
    tracker_t t;
    tracker_init(&t, 3);
    for (size_t i = 0; i < 3; i++) {
        t.jobs[i] = job_make(f->srv->port, "GET", "/hold", NULL, NULL, 0);
        t.jobs[i]->user = &t;
        t.jobs[i]->user_u64 = i;
        integ_submit(f->it, t.jobs[i]);
    }
    assert_int_equal(integ_inflight(f->it), 3);
    srv_release(f->srv);
    assert_true(tracker_wait(&t, 3, 10000));
    assert_int_equal(integ_inflight(f->it), 0);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(t.jobs[i]->resp_body.p, "held");
    tracker_free(&t);
}

/* A short grace: the jobs still running get PT_ECLOSED; every done() runs exactly once. */
static void test_stop_with_jobs_in_flight(void **state)
{
    fx_t *f = *state;
    enum { N = 40 };
    tracker_t t;
    tracker_init(&t, N);
    for (size_t i = 0; i < N; i++) {
        t.jobs[i] = job_make(f->srv->port, "GET", i % 2 ? "/sleep/3000" : "/ok", NULL, NULL, 0);
        t.jobs[i]->user = &t;
        t.jobs[i]->user_u64 = i;
        integ_submit(f->it, t.jobs[i]);
    }
    usleep(100 * 1000);
    int64_t t0 = time_mono_ms();
    integ_stop(f->it, 50);
    f->it = NULL;
    assert_true(time_mono_ms() - t0 < 1500);
    pthread_mutex_lock(&t.mu);
    assert_int_equal(t.total, N);
    pthread_mutex_unlock(&t.mu);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(tracker_count(&t, i), 1);
        int e = t.jobs[i]->error;
        if (i % 2) {
            assert_int_equal(e, PT_ECLOSED);
            assert_string_equal(t.jobs[i]->errmsg, "integration thread stopped");
        } else {
            assert_true(e == PT_OK || e == PT_ECLOSED);
        }
    }
    tracker_free(&t);
}

/* A long grace: jobs already submitted finish normally, and stop returns when they are done. */
static void test_stop_grace_lets_jobs_finish(void **state)
{
    fx_t *f = *state;
    enum { N = 6 };
    tracker_t t;
    tracker_init(&t, N);
    for (size_t i = 0; i < N; i++) {
        t.jobs[i] = job_make(f->srv->port, "GET", "/sleep/150", NULL, NULL, 0);
        t.jobs[i]->user = &t;
        t.jobs[i]->user_u64 = i;
        integ_submit(f->it, t.jobs[i]);
    }
    int64_t t0 = time_mono_ms();
    integ_stop(f->it, 10000);
    f->it = NULL;
    assert_true(time_mono_ms() - t0 < 3000);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(tracker_count(&t, i), 1);
        assert_int_equal(t.jobs[i]->error, PT_OK);
    }
    tracker_free(&t);
}

typedef struct stopper {
    integ_t *it;
    int grace_ms;
} stopper_t;

static void *stop_main(void *arg)
{
    stopper_t *s = arg;
    integ_stop(s->it, s->grace_ms);
    return NULL;
}

/* Once stop began, a submitted job completes at once, on the submitter's thread. A /hold job
 * keeps the stop waiting until the test has seen that. */
static void test_submit_after_stop(void **state)
{
    fx_t *f = *state;
    enum { PROBES = 5000 };
    tracker_t held, probes;
    tracker_init(&held, 1);
    tracker_init(&probes, PROBES);
    held.jobs[0] = job_make(f->srv->port, "GET", "/hold", NULL, NULL, 0);
    held.jobs[0]->user = &held;
    integ_submit(f->it, held.jobs[0]);

    pthread_t thr;
    stopper_t s = {.it = f->it, .grace_ms = 10000};
    assert_int_equal(pthread_create(&thr, NULL, stop_main, &s), 0);
    size_t hit = PROBES;
    for (size_t i = 0; i < PROBES && hit == PROBES; i++) {
        integ_job_t *j = job_make(f->srv->port, "GET", "/ok", NULL, NULL, 0);
        j->user = &probes;
        j->user_u64 = i;
        probes.jobs[i] = j;
        int64_t t0 = time_mono_us();
        integ_submit(f->it, j);
        int64_t dt = time_mono_us() - t0;
        pthread_mutex_lock(&probes.mu);
        bool sync = probes.count[i] == 1 && pthread_equal(probes.thread[i], pthread_self());
        pthread_mutex_unlock(&probes.mu);
        if (sync) {
            hit = i;
            assert_int_equal(j->error, PT_ECLOSED);
            assert_true(dt < 100000);
        } else {
            usleep(1000);
        }
    }
    srv_release(f->srv);
    pthread_join(thr, NULL);
    f->it = NULL;
    assert_true(hit < PROBES);
    /* the held job and the probes before the hit ran during the grace period */
    assert_int_equal(tracker_count(&held, 0), 1);
    assert_int_equal(held.jobs[0]->error, PT_OK);
    for (size_t i = 0; i < hit; i++) {
        assert_int_equal(tracker_count(&probes, i), 1);
        assert_int_equal(probes.jobs[i]->error, PT_OK);
    }
    tracker_free(&held);
    tracker_free(&probes);
}

static void test_stop_idle_and_null(void **state)
{
    fx_t *f = *state;
    integ_stop(NULL, 0);
    int64_t t0 = time_mono_ms();
    integ_stop(f->it, 5000);
    f->it = NULL;
    assert_true(time_mono_ms() - t0 < 500);
    integ_job_free(NULL);
    integ_job_free(integ_job_new());
}

static int proxy_fd = -1;

/* Every test also checks that *_proxy variables are ignored: they point at a refusing port,
 * set before any thread starts (curl reads them at each transfer). */
static int group_setup(void **state)
{
    (void)state;
    int port;
    proxy_fd = refusing_socket(&port);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    setenv("http_proxy", url, 1);
    setenv("HTTPS_PROXY", url, 1);
    setenv("ALL_PROXY", url, 1);
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    close(proxy_fd);
    return 0;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_get_roundtrip),
        T(test_post_roundtrip),
        T(test_post_keeps_job_content_type),
        T(test_methods),
        T(test_large_post_no_expect),
        T(test_status_codes),
        T(test_interim_response_headers_dropped),
        T(test_chunked_response),
        T(test_timeout),
        T(test_refused),
        T(test_reset_and_close),
        T(test_bad_url),
        T(test_invalid_request),
        T(test_body_cap),
        T(test_keepalive_sequential),
        T(test_keepalive_concurrent_bounded),
        T(test_timeout_while_queued_for_connection),
        T(test_many_submitters),
        T(test_inflight),
        T(test_stop_with_jobs_in_flight),
        T(test_stop_grace_lets_jobs_finish),
        T(test_submit_after_stop),
        T(test_stop_idle_and_null),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
