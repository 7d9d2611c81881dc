/* main.c: chat-backend: the demo's Lambda-style handler, pusher and web server on one loop. */
#include "demo-chat/server.h"

#include "common/err.h"
#include "common/http.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Portico POSTs each event of the chat's routes here (AWS_PROXY integration: the Lambda proxy
 * event in, a Lambda proxy result out), exactly what a Lambda handler receives behind API
 * Gateway. The same port serves the page. Pushes go back through Portico's @connections API.
 *
 *   POST /events, POST /2015-03-31/functions/{name}/invocations   an event (any route)
 *   GET  /, /app.js, /style.css, ...                               the page (--web DIR)
 *   GET  /config.json                                              where the page connects
 *   GET  /health, /stats                                           liveness, counters
 */

#ifndef DEMO_CHAT_WEB_DIR
#define DEMO_CHAT_WEB_DIR "demo-chat/web"
#endif

#define MAX_CONNS     1024
#define MAX_HEAD      16384
#define MAX_BODY      (1u << 20) /* Portico's messages are 128 KB; escaped into an event, < 1 MB */
#define IDLE_MS       60000
#define STOP_GRACE_MS 1000

int chat_log_level = CHAT_LOG_INFO;

void chat_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (level > chat_log_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "chat-backend: %s: %s\n", names[level], line);
}

typedef struct opts {
    const char *listen;
    const char *port_file;
    const char *data_dir;
    const char *web_dir;
    const char *ws_url;
    chat_pusher_opts_t push;
} opts_t;

typedef struct hconn {
    chat_src_t src;
    buf_t in;
    buf_t out;
    size_t out_off;
    bool want_out;    /* EPOLLOUT registered */
    bool close_after; /* close once out is written */
    int64_t last_ms;  /* monotonic */
    struct hconn *prev, *next;
} hconn_t;

typedef struct server {
    int epfd;
    chat_src_t listener;
    chat_src_t sig;
    chat_state_t *st;
    chat_store_t *store;
    chat_pusher_t *pusher;
    chat_web_t web;
    const opts_t *o;
    hconn_t *conns;
    size_t nconns;
    hconn_t *dead;
    bool stopping;
} server_t;

/* ---- HTTP connections ------------------------------------------------------------------- */

static void conn_close(server_t *sv, hconn_t *c)
{
    if (c->src.fd < 0)
        return;
    epoll_ctl(sv->epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
    close(c->src.fd);
    c->src.fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        sv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    sv->nconns--;
    c->prev = NULL;
    c->next = sv->dead; /* freed after this batch of events */
    sv->dead = c;
}

static void conn_reap(server_t *sv)
{
    while (sv->dead) {
        hconn_t *c = sv->dead;
        sv->dead = c->next;
        buf_free(&c->in);
        buf_free(&c->out);
        free(c);
    }
}

static void conn_watch_out(server_t *sv, hconn_t *c, bool on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(sv->epfd, EPOLL_CTL_MOD, c->src.fd, &ev);
    c->want_out = on;
}

static void conn_flush(server_t *sv, hconn_t *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->src.fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_watch_out(sv, c, true);
            return;
        }
        if (n <= 0) {
            conn_close(sv, c);
            return;
        }
        c->out_off += (size_t)n;
    }
    buf_reset(&c->out);
    c->out_off = 0;
    conn_watch_out(sv, c, false);
    if (c->close_after)
        conn_close(sv, c);
}

static const char *CSP = "default-src 'none'; script-src 'self'; style-src 'self'; "
                         "img-src 'self'; connect-src 'self' ws: wss:; base-uri 'none'; "
                         "form-action 'none'; frame-ancestors 'none'";

static void respond(hconn_t *c, int status, const char *ctype, const char *extra, const void *body,
                    size_t len, bool head_only)
{
    buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n", status, http_reason(status),
               len);
    if (ctype)
        buf_printf(&c->out, "Content-Type: %s\r\n", ctype);
    if (extra)
        buf_puts(&c->out, extra);
    if (c->close_after)
        buf_puts(&c->out, "Connection: close\r\n");
    buf_puts(&c->out, "\r\n");
    if (!head_only && len)
        buf_append(&c->out, body, len);
}

static void respond_json(hconn_t *c, int status, const buf_t *b)
{
    respond(c, status, "application/json", "Cache-Control: no-store\r\n", b->p, b->len, false);
}

static void stats_json(server_t *sv, buf_t *b)
{
    chat_stats_t s;
    chat_state_stats(sv->st, &s);
    buf_printf(b,
               "{\"members\":%zu,\"rooms\":%zu,\"events\":%llu,\"joins\":%llu,\"messages\":%llu,"
               "\"pushes\":{\"queued\":%llu,\"batched\":%llu,\"ok\":%llu,\"gone\":%llu,"
               "\"throttled\":%llu,"
               "\"failed\":%llu,\"dropped\":%llu,\"inflight\":%d},\"storeErrors\":%llu,"
               "\"portico\":{\"port\":%d,\"stage\":",
               s.members, s.rooms, (unsigned long long)s.events, (unsigned long long)s.joins,
               (unsigned long long)s.messages, (unsigned long long)s.pushes_queued,
               (unsigned long long)s.pushes_batched, (unsigned long long)s.pushes_ok,
               (unsigned long long)s.pushes_gone, (unsigned long long)s.pushes_throttled,
               (unsigned long long)s.pushes_failed, (unsigned long long)s.pushes_dropped,
               chat_pusher_inflight(sv->pusher), (unsigned long long)s.store_errors,
               chat_pusher_port(sv->pusher));
    const char *stage = chat_pusher_stage(sv->pusher);
    buf_json_str(b, stage, strlen(stage));
    buf_puts(b, "}}");
}

/* Where the page opens its WebSocket: the page takes the host from its own location, so the
 * same answer works when the page comes from this server and when Portico serves it. */
static void config_json(server_t *sv, buf_t *b)
{
    const char *stage = chat_pusher_stage(sv->pusher);
    int port = chat_pusher_port(sv->pusher);
    buf_puts(b, "{\"stage\":");
    buf_json_str(b, stage, strlen(stage));
    if (port)
        buf_printf(b, ",\"wsPort\":%d", port);
    else
        buf_puts(b, ",\"wsPort\":null");
    buf_puts(b, ",\"wsUrl\":");
    if (sv->o->ws_url)
        buf_json_str(b, sv->o->ws_url, strlen(sv->o->ws_url));
    else
        buf_puts(b, "null");
    buf_putc(b, '}');
}

static bool is_event_path(const char *p, size_t n)
{
    static const char pre[] = "/2015-03-31/functions/", post[] = "/invocations";
    if (n == 7 && memcmp(p, "/events", 7) == 0)
        return true;
    size_t a = sizeof pre - 1, z = sizeof post - 1;
    return n > a + z && memcmp(p, pre, a) == 0 && memcmp(p + n - z, post, z) == 0 &&
           !memchr(p + a, '/', n - a - z);
}

static void handle_event(server_t *sv, hconn_t *c, const char *body, size_t len)
{
    buf_t out = BUF_INIT;
    chat_event_t ev;
    if (chat_event_parse(body, len, &ev) != PT_OK) {
        buf_puts(&out, "{\"message\":\"not a Lambda proxy event of a WebSocket API\"}");
        respond_json(c, 400, &out);
        buf_free(&out);
        return;
    }
    chat_reply_t reply = {0, BUF_INIT};
    chat_handle(sv->st, &ev, time_now_ms(), &reply);
    chat_log(CHAT_LOG_DEBUG, "%s %s -> %d", ev.route_key, ev.cid, reply.status);
    chat_result_json(&out, reply.status, reply.body.len ? reply.body.p : NULL, reply.body.len);
    respond_json(c, 200, &out);
    buf_free(&out);
    buf_free(&reply.body);
    chat_event_dispose(&ev);
    /* The pushes this event queued leave now; the answer above does not wait for them. */
    chat_pusher_kick(sv->pusher);
}

static void handle_request(server_t *sv, hconn_t *c, const http_request_t *req, const char *body,
                           size_t body_len)
{
    const char *m = req->method;
    size_t ml = req->method_len;
    bool get = ml == 3 && memcmp(m, "GET", 3) == 0;
    bool head = ml == 4 && memcmp(m, "HEAD", 4) == 0;
    bool post = ml == 4 && memcmp(m, "POST", 4) == 0;
    const char *path = req->path;
    size_t pl = req->path_len;
    buf_t b = BUF_INIT;

    if (is_event_path(path, pl)) {
        if (post)
            handle_event(sv, c, body, body_len);
        else
            respond(c, 405, "text/plain", "Allow: POST\r\n", "POST only\n", 10, head);
    } else if (!get && !head) {
        respond(c, 405, "text/plain", "Allow: GET, HEAD\r\n", "GET or HEAD\n", 12, false);
    } else if (pl == 12 && memcmp(path, "/config.json", 12) == 0) {
        config_json(sv, &b);
        respond(c, 200, "application/json", "Cache-Control: no-store\r\n", b.p, b.len, head);
    } else if (pl == 7 && memcmp(path, "/health", 7) == 0) {
        respond(c, 200, "application/json", NULL, "{\"status\":\"ok\"}", 15, head);
    } else if (pl == 6 && memcmp(path, "/stats", 6) == 0) {
        stats_json(sv, &b);
        respond(c, 200, "application/json", "Cache-Control: no-store\r\n", b.p, b.len, head);
    } else {
        const chat_web_file_t *f = chat_web_find(&sv->web, path, pl);
        if (!f) {
            respond(c, 404, "text/plain", NULL, "not found\n", 10, head);
        } else {
            buf_printf(&b,
                       "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
                       "Referrer-Policy: no-referrer\r\nContent-Security-Policy: %s\r\n",
                       CSP);
            respond(c, 200, f->type, b.p, f->data, f->len, head);
        }
    }
    buf_free(&b);
}

/* Handles every complete request in c->in (pipelined ones in order). */
static void conn_process(server_t *sv, hconn_t *c)
{
    while (c->in.len && !c->close_after) {
        http_request_t req;
        int rc = http_parse_request(c->in.p, c->in.len, &req);
        if (rc == PT_EAGAIN) {
            if (c->in.len > MAX_HEAD) {
                c->close_after = true;
                respond(c, 431, "text/plain", NULL, "request head too large\n", 23, false);
            }
            break;
        }
        if (rc != PT_OK) {
            c->close_after = true;
            respond(c, 400, "text/plain", NULL, "bad request\n", 12, false);
            break;
        }
        uint64_t clen = 0;
        const http_header_t *h = http_find_header(&req, "Content-Length");
        if (http_find_header(&req, "Transfer-Encoding")) {
            c->close_after = true;
            respond(c, 411, "text/plain", NULL, "send a Content-Length\n", 22, false);
            break;
        }
        if (h && http_parse_u64(h->value, h->value_len, &clen) != PT_OK) {
            c->close_after = true;
            respond(c, 400, "text/plain", NULL, "bad Content-Length\n", 19, false);
            break;
        }
        if (clen > MAX_BODY) {
            c->close_after = true;
            respond(c, 413, "text/plain", NULL, "body too large\n", 15, false);
            break;
        }
        if (c->in.len < req.head_len + clen)
            break;
        const http_header_t *conn = http_find_header(&req, "Connection");
        bool keep = req.minor_version >= 1;
        if (conn && http_value_has_token(conn->value, conn->value_len, "close"))
            keep = false;
        if (conn && http_value_has_token(conn->value, conn->value_len, "keep-alive"))
            keep = true;
        c->close_after = !keep || sv->stopping;
        handle_request(sv, c, &req, c->in.p + req.head_len, (size_t)clen);
        buf_consume(&c->in, req.head_len + (size_t)clen);
    }
    conn_flush(sv, c);
}

static void conn_read(server_t *sv, hconn_t *c)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = recv(c->src.fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_close(sv, c);
            return;
        }
        if (c->in.len + (size_t)n > MAX_HEAD + MAX_BODY) {
            conn_close(sv, c);
            return;
        }
        buf_append(&c->in, chunk, (size_t)n);
        if ((size_t)n < sizeof chunk)
            break;
    }
    c->last_ms = time_mono_ms();
    conn_process(sv, c);
}

static void do_accept(server_t *sv)
{
    for (;;) {
        int fd = accept4(sv->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        if (sv->nconns >= MAX_CONNS) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        hconn_t *c = pt_xcalloc(1, sizeof *c);
        c->src.kind = CHAT_SRC_HTTP;
        c->src.fd = fd;
        c->last_ms = time_mono_ms();
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(sv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->next = sv->conns;
        if (sv->conns)
            sv->conns->prev = c;
        sv->conns = c;
        sv->nconns++;
    }
}

static void sweep_idle(server_t *sv)
{
    int64_t now = time_mono_ms();
    hconn_t *c = sv->conns;
    while (c) {
        hconn_t *next = c->next;
        if (now - c->last_ms > IDLE_MS || (sv->stopping && c->in.len == 0 && c->out.len == 0))
            conn_close(sv, c);
        c = next;
    }
}

/* ---- setup ------------------------------------------------------------------------------ */

static int open_listener(const char *spec, int *port_out, char *err, size_t cap)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host) {
        snprintf(err, cap, "--listen %s: expected HOST:PORT", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* "[::1]:8081" */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (g != 0) {
        snprintf(err, cap, "--listen %s: %s", spec, gai_strerror(g));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, cap, "--listen %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Written to FILE.tmp, then renamed: a reader never sees half a file (as Portico's). */
static int write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return PT_EIO;
    fprintf(f, "{\"listen\": %d}\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return PT_EIO;
    return PT_OK;
}

static void usage(FILE *f)
{
    fputs("usage: chat-backend [options]\n"
          "  --listen HOST:PORT          where Portico's events and browsers arrive "
          "(127.0.0.1:8081; port 0: any)\n"
          "  --port-file FILE            write {\"listen\": PORT} there once listening\n"
          "  --data-dir DIR              the history's LMDB environment (./chat-data)\n"
          "  --web DIR                   the page's files (" DEMO_CHAT_WEB_DIR ")\n"
          "  --endpoint URL              Portico's @connections endpoint, "
          "http://HOST:PORT/STAGE\n"
          "  --endpoint-port-file FILE   or read Portico's port from its --port-file\n"
          "  --endpoint-host HOST        with --endpoint-port-file (127.0.0.1)\n"
          "  --stage NAME                with --endpoint-port-file (dev)\n"
          "  --ws-url URL                the WebSocket URL the page opens (default: "
          "derived from the page's location)\n"
          "  --max-inflight N            pushes in flight at once (32)\n"
          "  --push-timeout-ms N         one push's time budget (5000)\n"
          "  --log-level LEVEL           error, warn, info, debug (info)\n"
          "credentials for @connections: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
          "AWS_SESSION_TOKEN, AWS_REGION (us-east-1), as the AWS SDKs read them\n",
          f);
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    enum {
        O_LISTEN = 256,
        O_PORTFILE,
        O_DATA,
        O_WEB,
        O_ENDPOINT,
        O_EPF,
        O_EHOST,
        O_STAGE,
        O_WSURL,
        O_INFLIGHT,
        O_TIMEOUT,
        O_LOG
    };
    static const struct option lo[] = {
        {"listen", required_argument, 0, O_LISTEN},
        {"port-file", required_argument, 0, O_PORTFILE},
        {"data-dir", required_argument, 0, O_DATA},
        {"web", required_argument, 0, O_WEB},
        {"endpoint", required_argument, 0, O_ENDPOINT},
        {"endpoint-port-file", required_argument, 0, O_EPF},
        {"endpoint-host", required_argument, 0, O_EHOST},
        {"stage", required_argument, 0, O_STAGE},
        {"ws-url", required_argument, 0, O_WSURL},
        {"max-inflight", required_argument, 0, O_INFLIGHT},
        {"push-timeout-ms", required_argument, 0, O_TIMEOUT},
        {"log-level", required_argument, 0, O_LOG},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    o->listen = "127.0.0.1:8081";
    o->data_dir = "./chat-data";
    o->web_dir = DEMO_CHAT_WEB_DIR;
    o->push.access_key_id = getenv("AWS_ACCESS_KEY_ID");
    o->push.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
    o->push.session_token = getenv("AWS_SESSION_TOKEN");
    o->push.region = getenv("AWS_REGION") ? getenv("AWS_REGION") : getenv("AWS_DEFAULT_REGION");
    o->push.max_inflight = 32;
    o->push.timeout_ms = 5000;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            o->listen = optarg;
            break;
        case O_PORTFILE:
            o->port_file = optarg;
            break;
        case O_DATA:
            o->data_dir = optarg;
            break;
        case O_WEB:
            o->web_dir = optarg;
            break;
        case O_ENDPOINT:
            o->push.endpoint = optarg;
            break;
        case O_EPF:
            o->push.port_file = optarg;
            break;
        case O_EHOST:
            o->push.host = optarg;
            break;
        case O_STAGE:
            o->push.stage = optarg;
            break;
        case O_WSURL:
            o->ws_url = optarg;
            break;
        case O_INFLIGHT:
        case O_TIMEOUT: {
            long v = strtol(optarg, &end, 10);
            long max = c == O_INFLIGHT ? 1024 : 60000;
            if (*end || v < 1 || v > max) {
                fprintf(stderr, "chat-backend: --%s: expected 1..%ld\n",
                        c == O_INFLIGHT ? "max-inflight" : "push-timeout-ms", max);
                return 2;
            }
            if (c == O_INFLIGHT)
                o->push.max_inflight = (int)v;
            else
                o->push.timeout_ms = (int)v;
            break;
        }
        case O_LOG: {
            static const char *lv[] = {"error", "warn", "info", "debug"};
            int found = -1;
            for (int i = 0; i < 4; i++)
                if (strcmp(optarg, lv[i]) == 0)
                    found = i;
            if (found < 0) {
                fprintf(stderr, "chat-backend: --log-level: error, warn, info or debug\n");
                return 2;
            }
            chat_log_level = found;
            break;
        }
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    return 0;
}

/* ---- the loop --------------------------------------------------------------------------- */

static void dispatch(server_t *sv, struct epoll_event *e)
{
    chat_src_t *src = e->data.ptr;
    if (src->fd < 0)
        return; /* closed earlier in this batch */
    switch (src->kind) {
    case CHAT_SRC_LISTEN:
        do_accept(sv);
        break;
    case CHAT_SRC_SIGNAL: {
        struct signalfd_siginfo si;
        while (read(src->fd, &si, sizeof si) == sizeof si) {
            if (!sv->stopping)
                chat_log(CHAT_LOG_INFO, "signal %u: stopping", si.ssi_signo);
            sv->stopping = true;
        }
        break;
    }
    case CHAT_SRC_HTTP: {
        hconn_t *c = (hconn_t *)src;
        if (e->events & (EPOLLERR | EPOLLHUP) && !(e->events & EPOLLIN)) {
            conn_close(sv, c);
        } else {
            if (e->events & EPOLLIN)
                conn_read(sv, c);
            if (c->src.fd >= 0 && (e->events & EPOLLOUT))
                conn_flush(sv, c);
        }
        break;
    }
    case CHAT_SRC_CURL:
        chat_pusher_io(sv->pusher, src, e->events);
        break;
    }
}

static int run(server_t *sv)
{
    int64_t next_tick = time_mono_ms() + 1000, stop_deadline = 0;
    struct epoll_event evs[64];
    for (;;) {
        if (sv->stopping) {
            if (!stop_deadline) {
                stop_deadline = time_mono_ms() + STOP_GRACE_MS;
                epoll_ctl(sv->epfd, EPOLL_CTL_DEL, sv->listener.fd, NULL);
                close(sv->listener.fd);
                sv->listener.fd = -1;
                sweep_idle(sv);
            }
            /* Pushes in flight get a moment to finish; queued ones are dropped. */
            if (chat_pusher_inflight(sv->pusher) == 0 || time_mono_ms() >= stop_deadline)
                return 0;
        }
        int64_t now = time_mono_ms();
        int wait = (int)(next_tick > now ? next_tick - now : 0);
        int cw = chat_pusher_wait_ms(sv->pusher);
        if (cw >= 0 && cw < wait)
            wait = cw;
        if (sv->stopping && wait > 50)
            wait = 50;
        int n = epoll_wait(sv->epfd, evs, (int)PT_ARRAY_LEN(evs), wait);
        if (n < 0 && errno != EINTR) {
            chat_log(CHAT_LOG_ERROR, "epoll_wait: %s", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++)
            dispatch(sv, &evs[i]);
        chat_pusher_tick(sv->pusher);
        now = time_mono_ms();
        if (now >= next_tick) {
            next_tick = now + 1000;
            if (sv->store && chat_store_sync(sv->store) != PT_OK)
                chat_log(CHAT_LOG_WARN, "history store: sync failed");
            chat_state_expire(sv->st, time_now_ms());
            sweep_idle(sv);
            chat_pusher_kick(sv->pusher); /* Portico's port may have appeared */
        }
        chat_pusher_reap(sv->pusher);
        conn_reap(sv);
    }
}

int main(int argc, char **argv)
{
    opts_t o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;

    server_t sv = {.epfd = -1, .o = &o};
    sv.listener.fd = sv.sig.fd = -1;
    char err[512] = "";
    int status = 1, port = 0;
    sigset_t mask;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    /* SIGINT stays ignored when it was ignored at start (a background job of a script): the
     * script stops us with SIGTERM once Portico has delivered its $disconnects. */
    struct sigaction old_int;
    sigemptyset(&mask);
    if (sigaction(SIGINT, NULL, &old_int) != 0 || old_int.sa_handler != SIG_IGN)
        sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    if (chat_web_load(&sv.web, o.web_dir, err, sizeof err) != PT_OK)
        goto fail;
    if (chat_store_open(o.data_dir, &sv.store, err, sizeof err) != PT_OK)
        goto fail;
    if (chat_state_create(sv.store, &sv.st) != PT_OK) {
        snprintf(err, sizeof err, "%s: cannot read the history", o.data_dir);
        goto fail;
    }
    if ((sv.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        snprintf(err, sizeof err, "epoll_create1: %s", strerror(errno));
        goto fail;
    }
    if (chat_pusher_create(sv.epfd, sv.st, &o.push, &sv.pusher, err, sizeof err) != PT_OK)
        goto fail;
    if ((sv.listener.fd = open_listener(o.listen, &port, err, sizeof err)) < 0)
        goto fail;
    sv.listener.kind = CHAT_SRC_LISTEN;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &sv.listener};
    epoll_ctl(sv.epfd, EPOLL_CTL_ADD, sv.listener.fd, &ev);
    if ((sv.sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
        snprintf(err, sizeof err, "signalfd: %s", strerror(errno));
        goto fail;
    }
    sv.sig.kind = CHAT_SRC_SIGNAL;
    ev.data.ptr = &sv.sig;
    epoll_ctl(sv.epfd, EPOLL_CTL_ADD, sv.sig.fd, &ev);
    if (o.port_file && write_port_file(o.port_file, port) != PT_OK) {
        snprintf(err, sizeof err, "--port-file %s: %s", o.port_file, strerror(errno));
        goto fail;
    }
    chat_stats_t s;
    chat_state_stats(sv.st, &s);
    chat_log(CHAT_LOG_INFO,
             "listening on %s (port %d): events at /events, the page at /; "
             "%zu rooms of history in %s",
             o.listen, port, s.rooms, o.data_dir);
    status = run(&sv);
    goto out;

fail:
    fprintf(stderr, "chat-backend: %s\n", err);
out:
    while (sv.conns)
        conn_close(&sv, sv.conns);
    conn_reap(&sv);
    chat_pusher_destroy(sv.pusher);
    chat_state_destroy(sv.st);
    chat_store_close(sv.store);
    chat_web_dispose(&sv.web);
    if (sv.listener.fd >= 0)
        close(sv.listener.fd);
    if (sv.sig.fd >= 0)
        close(sv.sig.fd);
    if (sv.epfd >= 0)
        close(sv.epfd);
    curl_global_cleanup();
    return status;
}
