/* conn.c: a TCP connection on a worker: reading, HTTP request framing, output queue, close. */
#include "gateway/gw.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * Buffers: a connection owns no read buffer while idle. Each read lands in the worker's scratch
 * buffer; whatever cannot be parsed yet (a partial head or frame) is copied into c->rbuf, which
 * is freed again as soon as it empties. rbuf is bounded: a head by limits.max_head_bytes, a
 * WebSocket frame by limits.max_frame_bytes plus its header.
 */

static void conn_process_buffered(gw_conn_t *c);
static size_t rbuf_limit(const gw_conn_t *c);

/*
 * epoll interest, changed only when it must be (each change is an epoll_ctl, ~2 us here):
 * - EPOLLIN while the state reads input, and also while an HTTP request is parked (@connections
 *   hop, live status feed): its bytes (a pipelined request, or EOF) are read into rbuf and kept
 *   for after the answer; reading pauses once rbuf holds its limit. Dropping EPOLLIN on every
 *   park and adding it back on every answer cost two epoll_ctl per forwarded push.
 * - EPOLLOUT only while a write is blocked (writev hit EAGAIN or wrote short). Output queued
 *   during a turn leaves in the end-of-turn flush without arming anything.
 */
void gw_conn_set_events(gw_conn_t *c)
{
    uint32_t ev = EPOLLRDHUP;
    bool reading =
        !c->read_paused && !c->eof &&
        (c->state == GW_CS_HEAD || c->state == GW_CS_BODY || c->state == GW_CS_WS ||
         c->state == GW_CS_CLOSING || (c->state == GW_CS_PARKED && c->rlen <= rbuf_limit(c)));
    if (reading)
        ev |= EPOLLIN;
    if (c->out_head && c->write_blocked)
        ev |= EPOLLOUT;
    if (c->eof)
        ev &= ~(uint32_t)EPOLLRDHUP; /* already seen; level-triggered RDHUP would spin */
    if (ev == c->epoll_events || c->fd < 0)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->epoll_events = ev;
}

void gw_conn_accept(gw_worker_t *w, int fd, const char *peer_ip, int local_port)
{
    gw_conn_t *c = pt_xcalloc(1, sizeof *c);
    c->fd = fd;
    c->w = w;
    c->is_admin = w->is_admin;
    c->state = GW_CS_HEAD;
    c->keep_alive = true;
    c->local_port = local_port;
    snprintf(c->peer_ip, sizeof c->peer_ip, "%s", peer_ip);
    c->epoll_events = EPOLLIN | EPOLLRDHUP;
    struct epoll_event e = {.events = c->epoll_events, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
        close(fd);
        free(c);
        return;
    }
    w->nconns++;
    c->all_next = w->all_conns;
    if (w->all_conns)
        w->all_conns->all_prev = c;
    w->all_conns = c;
    gw_tq_push(&w->tq_head, &c->t_main, time_mono_ms());
}

/* Frees everything of a closed connection; runs at the end of the loop turn (c is DEAD). */
static void conn_free(gw_conn_t *c)
{
    for (gw_out_t *o = c->out_head, *n; o; o = n) {
        n = o->next;
        free(o);
    }
    free(c->rbuf);
    free(c->req_head);
    free(c->req);
    buf_free(&c->body);
    if (c->ws) {
        if (c->ws->ip_counted) /* issue 7: per-IP limits (before source_ip is freed) */
            gw_limits_ip_release(c->w->srv->limiter, c->ws->source_ip);
        buf_free(&c->ws->msg);
        free(c->ws->source_ip);
        free(c->ws->user_agent);
        free(c->ws->domain);
        free(c->ws->subprotocol);
        json_decref(c->ws->authorizer);
        free(c->ws->close_reason);
        free(c->ws);
    }
    free(c);
}

void gw_conn_close(gw_conn_t *c)
{
    if (c->fd < 0)
        return;
    gw_worker_t *w = c->w;
    if (c->ws && (c->state == GW_CS_WS || c->state == GW_CS_CLOSING) && !c->ws->disconnect_fired)
        gw_ws_on_closed(c);
    else if (c->ws && (c->state == GW_CS_PENDING || c->state == GW_CS_COMMIT))
        gw_table_del(&w->table, c); /* never established: no $disconnect (spec 3) */
    gw_park_drop(c);
    gw_tq_remove(&c->t_main);
    gw_tq_remove(&c->t_age);
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    w->nconns--;
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        w->all_conns = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    c->all_prev = c->all_next = NULL;
    /* Other lists (flush, commit) may still point at c: free it after this loop turn. */
    c->state = GW_CS_CLOSING;
    c->dead_next = w->dead_list;
    w->dead_list = c;
}

void gw_worker_free_dead(gw_worker_t *w)
{
    gw_conn_t *c = w->dead_list;
    w->dead_list = NULL;
    while (c) {
        gw_conn_t *n = c->dead_next;
        conn_free(c);
        c = n;
    }
}

/* ---- output -------------------------------------------------------------------------------- */

/* Appends an output chunk of len bytes to the queue and returns its bytes for the caller to
 * fill (before the end of the turn's flush). */
static char *conn_reserve(gw_conn_t *c, size_t len, bool is_msg)
{
    gw_out_t *o = pt_xmalloc(sizeof *o + len);
    o->next = NULL;
    o->len = (uint32_t)len;
    o->off = 0;
    o->is_msg = is_msg;
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->out_bytes += (uint32_t)len;
    c->out_msgs += is_msg;
    /* Writes are corked until the end of the loop turn: one writev per connection per turn. */
    if (!c->in_flush_list) {
        c->in_flush_list = true;
        c->flush_next = c->w->flush_list;
        c->w->flush_list = c;
    }
    return o->data;
}

void gw_conn_send(gw_conn_t *c, const void *data, size_t len, bool is_msg)
{
    if (c->fd < 0 || len == 0)
        return;
    memcpy(conn_reserve(c, len, is_msg), data, len);
}

void gw_conn_flush(gw_conn_t *c)
{
    if (c->fd < 0)
        return;
    while (c->out_head) {
        struct iovec iov[64];
        int n = 0;
        size_t total = 0;
        for (gw_out_t *o = c->out_head; o && n < 64; o = o->next, n++) {
            iov[n].iov_base = o->data + o->off;
            iov[n].iov_len = o->len - o->off;
            total += iov[n].iov_len;
        }
        ssize_t wr = writev(c->fd, iov, n);
        if (wr < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->write_blocked = true; /* EPOLLOUT says when to try again */
                break;
            }
            c->eof = true;
            gw_conn_close(c);
            return;
        }
        size_t left = (size_t)wr;
        while (left > 0 && c->out_head) {
            gw_out_t *o = c->out_head;
            size_t rem = o->len - o->off;
            if (left < rem) {
                o->off += (uint32_t)left;
                c->out_bytes -= (uint32_t)left;
                left = 0;
                break;
            }
            left -= rem;
            c->out_bytes -= (uint32_t)rem;
            c->out_msgs -= o->is_msg;
            c->out_head = o->next;
            if (!c->out_head)
                c->out_tail = NULL;
            free(o);
        }
        if ((size_t)wr < total) {
            c->write_blocked = true; /* the socket buffer is full */
            break;
        }
    }
    if (!c->out_head)
        c->write_blocked = false;
    if (!c->out_head && c->want_close) {
        if (c->ws && c->ws->close_sent && !c->ws->peer_closed && !c->eof) {
            /* Our close frame is out: wait for the peer's (tq_closing bounds the wait). */
            c->want_close = false;
        } else {
            gw_conn_close(c);
            return;
        }
    }
    gw_conn_set_events(c);
}

/* ---- HTTP responses -------------------------------------------------------------------------- */

/* The Date header's value, formatted at most once a second per worker. */
static const char *http_date(gw_worker_t *w, size_t *len)
{
    int64_t now_s = time_now_ms() / 1000;
    if (now_s != w->date_s || !w->date[0]) {
        time_http_date(now_s, w->date);
        w->date_s = now_s;
        w->date_len = strlen(w->date);
    }
    *len = w->date_len;
    return w->date;
}

/* Decimal digits of v into out (no NUL); returns how many. */
static size_t put_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static char *put_mem(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put_mem((p), (lit), sizeof(lit) - 1)

/*
 * Hot on every push answer: the response is laid out straight into its output chunk, with the
 * Date value cached per second, instead of formatted with printf into a buffer and copied.
 */
void gw_http_respond(gw_conn_t *c, int status, const char *content_type, const char *extra_headers,
                     const void *body, size_t body_len)
{
    if (c->fd < 0)
        return;
    size_t date_len;
    const char *date = http_date(c->w, &date_len);
    const char *reason = http_reason(status);
    size_t reason_len = strlen(reason);
    size_t ct_len = content_type ? strlen(content_type) : 0;
    size_t extra_len = extra_headers ? strlen(extra_headers) : 0;
    bool keep = c->keep_alive && !c->want_close;
    static const char conn_keep[] = "Connection: keep-alive\r\n\r\n";
    static const char conn_close[] = "Connection: close\r\n\r\n";
    bool is_head = c->req && http_ieq(c->req->method, c->req->method_len, "HEAD");
    size_t send_body = body_len && !is_head ? body_len : 0;
    char status_txt[20];
    size_t status_len = put_u64(status_txt, (uint64_t)(status > 0 ? status : 0)); /* 1xx-5xx */
    char clen_txt[20];
    size_t clen_len = put_u64(clen_txt, (uint64_t)body_len);
    size_t total = (sizeof "HTTP/1.1 " - 1) + status_len + 1 + reason_len + 2 +
                   (sizeof "Date: " - 1) + date_len + 2 +
                   (content_type ? (sizeof "Content-Type: " - 1) + ct_len + 2 : 0) +
                   (sizeof "Content-Length: " - 1) + clen_len + 2 + extra_len +
                   (keep ? sizeof conn_keep - 1 : sizeof conn_close - 1) + send_body;
    char *p = conn_reserve(c, total, false);
    p = PUT_LIT(p, "HTTP/1.1 ");
    p = put_mem(p, status_txt, status_len);
    *p++ = ' ';
    p = put_mem(p, reason, reason_len);
    p = PUT_LIT(p, "\r\nDate: ");
    p = put_mem(p, date, date_len);
    p = PUT_LIT(p, "\r\n");
    if (content_type) {
        p = PUT_LIT(p, "Content-Type: ");
        p = put_mem(p, content_type, ct_len);
        p = PUT_LIT(p, "\r\n");
    }
    p = PUT_LIT(p, "Content-Length: ");
    p = put_mem(p, clen_txt, clen_len);
    p = PUT_LIT(p, "\r\n");
    if (extra_len)
        p = put_mem(p, extra_headers, extra_len);
    p = keep ? PUT_LIT(p, conn_keep) : PUT_LIT(p, conn_close);
    if (send_body)
        memcpy(p, body, send_body);
}

static void req_clear(gw_conn_t *c)
{
    free(c->req_head);
    c->req_head = NULL;
    c->req_head_len = 0;
    free(c->req);
    c->req = NULL;
    buf_free(&c->body);
    c->body_expected = 0;
}

void gw_http_done(gw_conn_t *c)
{
    if (c->fd < 0)
        return;
    req_clear(c);
    if (!c->keep_alive || c->want_close || c->w->stopping) {
        c->want_close = true;
        c->state = GW_CS_CLOSING;
        gw_tq_push(&c->w->tq_closing, &c->t_main, time_mono_ms());
        gw_conn_set_events(c);
        return;
    }
    c->state = GW_CS_HEAD;
    gw_tq_push(&c->w->tq_keepalive, &c->t_main, time_mono_ms());
    gw_conn_set_events(c);
    if (!c->in_process && c->rlen > 0)
        conn_process_buffered(c);
}

/* Answers a malformed request and closes. */
static void http_fail(gw_conn_t *c, int status, const char *msg)
{
    c->keep_alive = false;
    c->want_close = true;
    char body[160], rid[ID_LEN + 1], extra[96];
    int n = snprintf(body, sizeof body, "{\"message\":\"%s\"}", msg);
    /* API Gateway's answers carry their request id, framing errors (411, 431, 400) included. */
    id_request_new(&c->w->ids, rid);
    snprintf(extra, sizeof extra, "x-amzn-RequestId: %s\r\napigw-requestid: %s\r\n", rid, rid);
    gw_http_respond(c, status, "application/json", extra, body, (size_t)n);
    c->state = GW_CS_CLOSING;
    gw_tq_push(&c->w->tq_closing, &c->t_main, time_mono_ms());
}

/* ---- input ----------------------------------------------------------------------------------- */

/* Handlers may finish the exchange at once (gw_http_done); in_process stops that from
 * re-entering the parser, which is still walking the same bytes. */
static void dispatch_request(gw_conn_t *c)
{
    bool was = c->in_process;
    c->in_process = true;
    gw_tq_remove(&c->t_main);
    c->w->stats.http_requests++;
    if (c->is_admin)
        gw_admin_request(c);
    else
        gw_http_request(c);
    c->in_process = was;
}

/* Moves a head parsed in data[0..head_len) into storage the connection owns (the handler may
 * need it after this read returns), rebasing the parser's pointers instead of parsing again. */
static void rebase(const char **p, const char *from, const char *to)
{
    if (*p)
        *p = to + (*p - from);
}

static void take_head(gw_conn_t *c, const char *data, const http_request_t *parsed)
{
    size_t head_len = parsed->head_len;
    char *copy = pt_xmemdup(data, head_len);
    size_t used = offsetof(http_request_t, headers) + parsed->nheaders * sizeof(http_header_t);
    http_request_t *r = pt_xmalloc(sizeof *r);
    memcpy(r, parsed, used);
    rebase(&r->method, data, copy);
    rebase(&r->target, data, copy);
    rebase(&r->path, data, copy);
    rebase(&r->query, data, copy);
    for (size_t i = 0; i < r->nheaders; i++) {
        rebase(&r->headers[i].name, data, copy);
        rebase(&r->headers[i].value, data, copy);
    }
    c->req_head = copy;
    c->req_head_len = head_len;
    c->req = r;
    if (r->minor_version == 0)
        c->keep_alive = false;
    const http_header_t *conn = http_find_header(r, "connection");
    if (conn && http_value_has_token(conn->value, conn->value_len, "close"))
        c->keep_alive = false;
    if (r->minor_version == 0 && conn &&
        http_value_has_token(conn->value, conn->value_len, "keep-alive"))
        c->keep_alive = true;
}

/* Processes data in HEAD or BODY state; returns bytes consumed. */
static size_t http_process(gw_conn_t *c, char *data, size_t len)
{
    const route_limits_t *lim = c->w->srv->limits;
    size_t off = 0;
    while (off < len && c->fd >= 0) {
        if (c->state == GW_CS_HEAD) {
            http_request_t *tmp = &c->w->req_scratch;
            int rc = http_parse_request(data + off, len - off, tmp);
            if (rc == PT_EAGAIN) {
                if (len - off >= lim->max_head_bytes) {
                    http_fail(c, 431, "Request Header Fields Too Large");
                    return len;
                }
                /* A head has started: the slow-loris clock now runs from the first byte. */
                if (c->t_main.q != &c->w->tq_head)
                    gw_tq_push(&c->w->tq_head, &c->t_main, time_mono_ms());
                return off;
            }
            if (rc == PT_ETOOBIG || (rc == PT_OK && tmp->head_len > lim->max_head_bytes)) {
                http_fail(c, 431, "Request Header Fields Too Large");
                return len;
            }
            if (rc != PT_OK) {
                http_fail(c, 400, "Bad Request");
                return len;
            }
            take_head(c, data + off, tmp);
            off += tmp->head_len;
            const http_header_t *te = http_find_header(c->req, "transfer-encoding");
            const http_header_t *cl = http_find_header(c->req, "content-length");
            if (te) {
                /* Chunked request bodies are refused as API Gateway does: 411. */
                http_fail(c, 411, "Length Required");
                return len;
            }
            uint64_t n = 0;
            if (cl && http_parse_u64(cl->value, cl->value_len, &n) != PT_OK) {
                http_fail(c, 400, "Bad Request");
                return len;
            }
            /* Content-Length headers that disagree make the body's end ambiguous, which is how
             * requests are smuggled past a proxy in front: refused (RFC 9112 6.3). */
            for (size_t i = 0; cl && i < c->req->nheaders; i++) {
                const http_header_t *h = &c->req->headers[i];
                if (h != cl && http_ieq(h->name, h->name_len, "content-length") &&
                    (h->value_len != cl->value_len ||
                     memcmp(h->value, cl->value, cl->value_len) != 0)) {
                    http_fail(c, 400, "Bad Request");
                    return len;
                }
            }
            if (n > gw_http_body_limit(c)) {
                c->body_expected = n;
                gw_http_too_large(c);
                return len;
            }
            c->body_expected = n;
            if (n == 0) {
                dispatch_request(c);
                if (c->state != GW_CS_HEAD)
                    return off;
                continue;
            }
            /* A client waiting for "100 Continue" before its body (curl does for big bodies)
             * gets it once the head passed the checks above (RFC 9110 10.1.1). */
            const http_header_t *ex = http_find_header(c->req, "expect");
            if (ex && c->req->minor_version >= 1 &&
                http_ieq(ex->value, ex->value_len, "100-continue"))
                gw_conn_send(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, false);
            buf_reserve(&c->body, (size_t)n);
            c->state = GW_CS_BODY;
            gw_tq_push(&c->w->tq_body, &c->t_main, time_mono_ms());
        }
        if (c->state == GW_CS_BODY) {
            size_t want = (size_t)(c->body_expected - c->body.len);
            size_t take = len - off < want ? len - off : want;
            buf_append(&c->body, data + off, take);
            off += take;
            if (c->body.len < c->body_expected)
                return off;
            dispatch_request(c);
            if (c->state != GW_CS_HEAD)
                return off;
            continue;
        }
        break;
    }
    return off;
}

/* Runs the parser for the connection's state over data; returns bytes consumed. */
static size_t conn_process(gw_conn_t *c, char *data, size_t len)
{
    size_t off = 0;
    for (;;) {
        if (c->fd < 0 || off >= len)
            return off;
        size_t used;
        gw_conn_state_t before = c->state;
        if (c->state == GW_CS_HEAD || c->state == GW_CS_BODY)
            used = http_process(c, data + off, len - off);
        else if (c->state == GW_CS_WS || (c->state == GW_CS_CLOSING && c->ws))
            used = gw_ws_process(c, (uint8_t *)data + off, len - off);
        else if (c->state == GW_CS_CLOSING)
            used = len - off; /* discard input while closing an HTTP exchange */
        else
            return off; /* PARKED, PENDING, COMMIT: keep bytes for later */
        off += used;
        if (used == 0 && c->state == before)
            return off;
    }
}

/* Keeps data[used..len) as the connection's unparsed input. */
static void keep_rest(gw_conn_t *c, const char *data, size_t len, size_t used, bool from_rbuf)
{
    size_t rest = len - used;
    if (rest == 0) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rlen = c->rcap = 0;
        return;
    }
    if (from_rbuf) {
        memmove(c->rbuf, c->rbuf + used, rest);
        c->rlen = (uint32_t)rest;
        return;
    }
    if (c->rcap < rest) {
        c->rbuf = pt_xrealloc(c->rbuf, rest);
        c->rcap = (uint32_t)rest;
    }
    memcpy(c->rbuf, data + used, rest);
    c->rlen = (uint32_t)rest;
}

static void conn_process_buffered(gw_conn_t *c)
{
    if (!c->rbuf || c->rlen == 0)
        return;
    c->in_process = true;
    size_t used = conn_process(c, c->rbuf, c->rlen);
    c->in_process = false;
    if (c->fd >= 0)
        keep_rest(c, c->rbuf, c->rlen, used, true);
}

void gw_conn_resume(gw_conn_t *c)
{
    conn_process_buffered(c);
    if (c->fd >= 0)
        gw_conn_set_events(c);
}

/* Largest unparsed input a connection may hold in its state. */
static size_t rbuf_limit(const gw_conn_t *c)
{
    const route_limits_t *lim = c->w->srv->limits;
    if (c->ws)
        return (size_t)lim->max_frame_bytes + 14;
    return lim->max_head_bytes;
}

static void conn_read(gw_conn_t *c)
{
    gw_worker_t *w = c->w;
    for (int rounds = 0; rounds < 4 && c->fd >= 0 && !c->eof; rounds++) {
        if (!(c->epoll_events & EPOLLIN))
            return;
        char *dst;
        size_t room;
        /* A parked request's connection keeps its input in rbuf (bounded) for later. */
        bool parked = c->state == GW_CS_PARKED;
        bool into_rbuf = c->rlen > 0 || parked;
        if (into_rbuf) {
            size_t limit = rbuf_limit(c) + 1;
            if (c->rcap < limit) {
                c->rbuf = pt_xrealloc(c->rbuf, limit);
                c->rcap = (uint32_t)limit;
            }
            dst = c->rbuf + c->rlen;
            room = c->rcap - c->rlen;
            if (room == 0) {
                gw_conn_set_events(c); /* parked and full: stop reading until the answer */
                return;                /* (otherwise the parser rejected this already) */
            }
        } else {
            dst = w->scratch;
            room = w->scratch_cap;
        }
        ssize_t n = recv(c->fd, dst, room, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                c->eof = true;
                gw_conn_close(c);
            }
            return;
        }
        if (n == 0) {
            c->eof = true;
            /* A parked request whose client left is dropped, as on EPOLLRDHUP below. */
            if (c->state == GW_CS_WS || c->state == GW_CS_CLOSING || c->state == GW_CS_HEAD ||
                c->state == GW_CS_BODY || parked || !c->out_head)
                gw_conn_close(c);
            else
                gw_conn_set_events(c);
            return;
        }
        c->in_process = true;
        if (into_rbuf) {
            c->rlen += (uint32_t)n;
            size_t used = conn_process(c, c->rbuf, c->rlen);
            if (c->fd >= 0)
                keep_rest(c, c->rbuf, c->rlen, used, true);
        } else {
            size_t used = conn_process(c, dst, (size_t)n);
            if (c->fd >= 0)
                keep_rest(c, dst, (size_t)n, used, false);
        }
        c->in_process = false;
        if (parked && c->fd >= 0)
            gw_conn_set_events(c); /* pauses reading once rbuf is full */
        if ((size_t)n < room)
            return; /* drained the socket */
    }
}

void gw_conn_on_events(gw_conn_t *c, uint32_t events)
{
    if (c->fd < 0)
        return;
    if (events & EPOLLOUT)
        gw_conn_flush(c);
    if (c->fd < 0)
        return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        conn_read(c);
        return;
    }
    if (events & EPOLLRDHUP) {
        /* The peer is gone while we hold its request (pending $connect or parked). */
        c->eof = true;
        if (c->state == GW_CS_PENDING || c->state == GW_CS_COMMIT || c->state == GW_CS_PARKED ||
            !c->out_head)
            gw_conn_close(c);
        else
            gw_conn_set_events(c);
    }
}

void gw_conn_timeout(gw_conn_t *c, gw_tqueue_t *q)
{
    gw_worker_t *w = c->w;
    if (q == &w->tq_idle || q == &w->tq_age) {
        if (c->state == GW_CS_WS) {
            gw_ws_close(c, WS_CLOSE_GOING_AWAY, "Going away");
            return;
        }
    }
    if (q == &w->tq_pending && c->state == GW_CS_PENDING) {
        /* Backstop behind the integration's own timeout. */
        gw_table_del(&w->table, c);
        c->keep_alive = false;
        c->want_close = true;
        static const char body[] = "{\"message\": \"Endpoint request timed out\"}";
        gw_http_respond(c, 504, "application/json", NULL, body, sizeof body - 1);
        c->state = GW_CS_CLOSING;
        gw_tq_push(&w->tq_closing, &c->t_main, time_mono_ms());
        gw_conn_set_events(c);
        return;
    }
    if (q == &w->tq_body && c->state == GW_CS_BODY) {
        http_fail(c, 408, "Request Timeout");
        gw_conn_set_events(c);
        return;
    }
    gw_conn_close(c);
}
