/* fuzz_front.c: the whole front stage on one connection: bytes in, the gateway's own code out. */
/*
 * Drives gateway/conn.c, http.c, wsconn.c, connect.c, rest.c, callback.c and admin.c exactly as
 * a worker does, but without threads or a listener: one worker and the admin loop are set up
 * in-process (a real LMDB registry in a temporary directory, the metrics, an idle integration
 * thread: MOCK integrations only, so every answer is computed inline), and each input is one client
 * connection on a socketpair. After every write the harness runs what a loop turn runs: the
 * connection's read event, both inboxes, the registry commit, the corked writes, the
 * dead-connection sweep.
 *
 * Input format:
 *   byte 0   flags: bit0 the connection is on the admin port; bit1 fire the connection's
 *            pending timer at the end (head, body, idle, closing: 408, 1001, ...); bit2 the
 *            client half-closes before it leaves; bits 3-5 pick the write size
 *            {1, 2, 3, 7, 64, 512, 4096, all}; bit 6 the client never reads (the gateway's
 *            output fills the socket)
 *   rest     the bytes the client sends (heads, bodies, WebSocket frames), written in chunks
 *            of that size, one loop turn per chunk
 *
 * Invariants once the client has gone: no connection, table entry, parked request or open
 * WebSocket is left on either loop, and the registry is empty (no ghost record, whatever
 * path the connection took: upgrade, refusal, close frame, timeout, EOF).
 *
 * FUZZ_FRONT_DEBUG=1 prints what the gateway wrote back (for checking seeds).
 */
#include "gateway/gw.h"
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char CONFIG[] =
    "{\"server\": {\"listen\": \"127.0.0.1:0\", \"adminListen\": \"127.0.0.1:0\",\n"
    "  \"workers\": 1, \"adminToken\": \"fuzztoken-0123456\",\n"
    "  \"limits\": {\"maxHeadBytes\": 4096, \"maxFrameBytes\": 1024, \"maxMessageBytes\": 4096,\n"
    "    \"outboundQueueMessages\": 8, \"outboundQueueBytes\": 16384,\n"
    "    \"maxRequestBodyBytes\": 8192},\n"
    "  \"credentials\": [{\"accessKeyId\": \"AKIDFUZZ\", \"secretAccessKey\": \"fuzzsecret\"}]},\n"
    " \"apis\": [\n"
    "  {\"apiId\": \"wsapi00001\", \"name\": \"ws\", \"protocolType\": \"WEBSOCKET\",\n"
    "   \"routeSelectionExpression\": \"$request.body.action\",\n"
    "   \"integrations\": [\n"
    "    {\"integrationId\": \"conn\", \"integrationType\": \"MOCK\", \"requestTemplates\":\n"
    "      {\"$default\": \"#if($input.params('x-deny') != '')"
    "{\\\"statusCode\\\": 403}#else{\\\"statusCode\\\": 200}#end\"}},\n"
    "    {\"integrationId\": \"echo\", \"integrationType\": \"MOCK\", \"requestTemplates\":\n"
    "      {\"$default\": \"{\\\"statusCode\\\": 200}\"}, \"integrationResponses\":\n"
    "      [{\"integrationResponseKey\": \"$default\", \"responseTemplates\":\n"
    "        {\"$default\": \"$input.body\"}}]},\n"
    "    {\"integrationId\": \"who\", \"integrationType\": \"MOCK\", \"requestTemplates\":\n"
    "      {\"$default\": \"{\\\"statusCode\\\": 200}\"}, \"integrationResponses\":\n"
    "      [{\"integrationResponseKey\": \"$default\", \"responseTemplates\":\n"
    "        {\"$default\": \"$context.connectionId\"}}]},\n"
    "    {\"integrationId\": \"disc\", \"integrationType\": \"MOCK\", \"requestTemplates\":\n"
    "      {\"$default\": \"{\\\"statusCode\\\": 200}\"}}],\n"
    "   \"routes\": [\n"
    "    {\"routeKey\": \"$connect\", \"target\": \"integrations/conn\"},\n"
    "    {\"routeKey\": \"$disconnect\", \"target\": \"integrations/disc\"},\n"
    "    {\"routeKey\": \"$default\", \"target\": \"integrations/echo\",\n"
    "     \"routeResponseSelectionExpression\": \"$default\",\n"
    "     \"routeResponses\": [{\"routeResponseKey\": \"$default\"}]},\n"
    "    {\"routeKey\": \"whoami\", \"target\": \"integrations/who\",\n"
    "     \"routeResponseSelectionExpression\": \"$default\",\n"
    "     \"routeResponses\": [{\"routeResponseKey\": \"$default\"}]},\n"
    "    {\"routeKey\": \"oneway\", \"target\": \"integrations/echo\"}],\n"
    "   \"stages\": [{\"stageName\": \"dev\"}]},\n"
    "  {\"apiId\": \"httpapi001\", \"name\": \"rest\", \"protocolType\": \"HTTP\",\n"
    "   \"corsConfiguration\": {\"allowOrigins\": [\"https://a.example\"],\n"
    "     \"allowMethods\": [\"GET\", \"POST\"], \"allowHeaders\": [\"x-a\"]},\n"
    "   \"integrations\": [\n"
    "    {\"integrationId\": \"m\", \"integrationType\": \"MOCK\", \"requestTemplates\":\n"
    "      {\"$default\": \"{\\\"statusCode\\\": 200}\"}, \"integrationResponses\":\n"
    "      [{\"integrationResponseKey\": \"$default\", \"responseTemplates\":\n"
    "        {\"$default\": \"mock:$input.body\"}}]}],\n"
    "   \"routes\": [{\"routeKey\": \"ANY /mock\", \"target\": \"integrations/m\"},\n"
    "    {\"routeKey\": \"GET /items/{id}\", \"target\": \"integrations/m\"},\n"
    "    {\"routeKey\": \"POST /up/{proxy+}\", \"target\": \"integrations/m\"}],\n"
    "   \"stages\": [{\"stageName\": \"$default\"}, {\"stageName\": \"v1\"}]}]}\n";

static gw_server_t srv;
static route_config_t *cfg;
static bool debug;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_front: invariant broken: %s\n", what);
        abort();
    }
}

/* As server.c's build_creds: the @connections credentials. */
static void set_creds(void)
{
    const route_server_t *s = &cfg->server;
    srv.cbcreds = pt_xcalloc(s->ncredentials ? s->ncredentials : 1, sizeof *srv.cbcreds);
    for (size_t i = 0; i < s->ncredentials; i++) {
        srv.cbcreds[i].sig.access_key_id = s->credentials[i].access_key_id;
        srv.cbcreds[i].sig.secret_access_key = s->credentials[i].secret_access_key;
    }
    srv.cbcfg.creds = srv.cbcreds;
    srv.cbcfg.ncreds = s->ncredentials;
    srv.cbcfg.region = s->region;
    srv.cbcfg.account_id = s->account_id;
    srv.cbcfg.node = srv.node;
    srv.cbcfg.nworkers = srv.nworkers;
}

/* One-time set-up of a server without threads: worker 0 and the admin loop. */
static void setup(void)
{
    buf_t err = BUF_INIT;
    char dir[] = "/tmp/fuzz_front.XXXXXX";
    debug = getenv("FUZZ_FRONT_DEBUG") != NULL;
    gw_log_set_level(debug ? GW_LOG_DEBUG : -1);
    check(route_config_parse(CONFIG, sizeof CONFIG - 1, "fuzz.json", &cfg, &err) == PT_OK,
          "config parses");
    check(mkdtemp(dir) != NULL, "mkdtemp");
    srv.cfg = cfg;
    srv.limits = &cfg->server.limits;
    srv.limiter = gw_limits_create(cfg); /* as gw_server_start: upgrades consult it (issue 7) */
    srv.nworkers = 1;
    srv.epoch = 42;
    srv.listen_port = 8080;
    set_creds();
    store_opts_t so = {.dir = dir};
    char ebuf[256];
    check(store_open(&so, &srv.store, ebuf, sizeof ebuf) == PT_OK, "store opens");
    check(gw_ops_init(&srv, &err) == PT_OK, "ops init");
    /* Idle with MOCK integrations, but /metrics and /stats read its counters. */
    integ_opts_t io = {0};
    check(integ_start(&io, &srv.integ) == PT_OK, "integration thread");
    srv.workers = pt_xcalloc(2, sizeof *srv.workers);
    for (int i = 0; i < 2; i++) {
        /* An unbound socket stands in for the listener: it is only ever registered. */
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        check(gw_worker_init(&srv.workers[i], &srv, i, lfd, i == 1) == PT_OK, "worker init");
    }
    buf_free(&err);
}

/* worker.c's on_inbox, for the messages a MOCK-only gateway can produce. */
static void drain_inbox(gw_worker_t *w)
{
    for (inbox_msg_t *m = inbox_take(&w->inbox), *next; m; m = next) {
        next = m->next;
        if (m->type == GW_MSG_CB_REQ)
            gw_cb_on_msg(w, (gw_cb_msg_t *)m);
        else if (m->type == GW_MSG_CB_REPLY)
            gw_cb_on_reply(w, (gw_cb_msg_t *)m);
        else if (m->type == GW_MSG_INTEG)
            gw_on_integ(w, (gw_call_t *)m);
        else
            free(m);
    }
}

static void flush_all(gw_worker_t *w)
{
    gw_conn_t *c = w->flush_list;
    w->flush_list = NULL;
    while (c) {
        gw_conn_t *next = c->flush_next;
        c->in_flush_list = false;
        c->flush_next = NULL;
        if (c->fd >= 0)
            gw_conn_flush(c);
        c = next;
    }
}

/* The end of a loop turn on both loops. */
static void end_turn(void)
{
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 2; i++)
            drain_inbox(&srv.workers[i]);
        for (int i = 0; i < 2; i++) {
            gw_commit_turn(&srv.workers[i]);
            flush_all(&srv.workers[i]);
            gw_worker_free_dead(&srv.workers[i]);
        }
    }
}

static bool alive(gw_worker_t *w, gw_conn_t *c)
{
    for (gw_conn_t *x = w->all_conns; x; x = x->all_next)
        if (x == c)
            return true;
    return false;
}

/* Reads whatever the gateway wrote; the client of this input may be one that never reads. */
static void client_read(int fd)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (debug)
            fwrite(buf, 1, (size_t)n, stderr);
}

/* One loop turn for c: its events (as epoll would report them), then the end of the turn. */
static void turn(gw_worker_t *w, gw_conn_t *c, uint32_t events, int cfd, bool reads)
{
    if (alive(w, c))
        gw_conn_on_events(c, events & (c->epoll_events | EPOLLHUP | EPOLLERR));
    end_turn();
    if (reads)
        client_read(cfd);
    if (alive(w, c) && (c->epoll_events & EPOLLOUT))
        gw_conn_on_events(c, EPOLLOUT);
    end_turn();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t chunks[8] = {1, 2, 3, 7, 64, 512, 4096, SIZE_MAX};
    if (!srv.cfg)
        setup();
    if (size == 0)
        return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    bool admin = flags & 1, timeouts = flags & 2, half_close = flags & 4;
    bool reads = !(flags & 64);
    size_t chunk = chunks[(flags >> 3) & 7];
    gw_worker_t *w = &srv.workers[admin ? 1 : 0];

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    gw_conn_accept(w, sv[0], "127.0.0.1", admin ? 9080 : 8080);
    gw_conn_t *c = w->all_conns;
    check(c && c->fd == sv[0], "accepted");

    size_t off = 0;
    /* Bounded: a client that never reads may find the socket full; the rest is dropped. */
    for (int stuck = 0; off < size && stuck < 4 && alive(w, c);) {
        size_t n = size - off < chunk ? size - off : chunk;
        ssize_t wr = write(sv[1], data + off, n);
        if (wr > 0) {
            off += (size_t)wr;
            stuck = 0;
        } else {
            stuck++;
        }
        turn(w, c, EPOLLIN, sv[1], reads);
    }
    if (timeouts && alive(w, c) && c->t_main.q) {
        /* What expiry does: the timer is popped, then the connection's timeout runs. */
        gw_tqueue_t *q = c->t_main.q;
        gw_tq_remove(&c->t_main);
        gw_conn_timeout(c, q);
        turn(w, c, EPOLLIN, sv[1], reads);
    }
    if (half_close) {
        shutdown(sv[1], SHUT_WR);
        turn(w, c, EPOLLIN | EPOLLRDHUP, sv[1], reads);
    }
    close(sv[1]);
    turn(w, c, EPOLLIN | EPOLLRDHUP | EPOLLHUP, -1, false);
    if (alive(w, c))
        gw_conn_close(c); /* e.g. waiting for a close frame that will never come */
    end_turn();

    for (int i = 0; i < 2; i++) {
        gw_worker_t *x = &srv.workers[i];
        check(x->all_conns == NULL && x->nconns == 0, "no connection left");
        check(x->table.count == 0, "no table entry left");
        check(x->nparked == 0, "no parked request left");
        check(x->stats.ws_open == 0, "no WebSocket counted open");
        check(x->commit_list == NULL && x->dead_list == NULL, "no list holds a connection");
        check(store_batch_len(x->batch) == 0, "every registry write committed");
    }
    check(atomic_load(&srv.ws_total) == 0, "ws_total back to 0");
    uint64_t n = 1;
    check(store_conn_count(srv.store, &n) == PT_OK && n == 0, "registry empty: no ghost record");
    return 0;
}
