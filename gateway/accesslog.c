/* accesslog.c: access-log lines: rendered on the worker, written by a logging thread, never
 * blocking. */
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Path of a line: the worker renders it (route_alog_render) into its own scratch buffer and
 * copies it into its ring, a single-producer single-consumer byte ring shared only with the
 * logging thread (an acquire/release pair on two positions, no lock). The logging thread
 * moves lines from every ring into a bounded buffer per destination and writes those.
 *
 * Nothing a destination does can stall a worker. When a destination is slow (a slow disk, a
 * stdout pipe nobody reads), its buffer fills first: further lines for it are dropped by the
 * logging thread and counted per destination ("destination_full"); if the logging thread
 * itself is stuck in a write to a regular file (disk writes cannot be made non-blocking), the
 * rings fill and workers drop lines and count them ("buffer_full"). Pipes, FIFOs and
 * terminals are written non-blocking; a socket (systemd's journal on stdout) with
 * MSG_DONTWAIT, so only a regular file on a slow disk can hold the logging thread at all.
 *
 * Files are reopened when they are renamed or deleted (log rotation), checked once a second.
 */

#define RING_BYTES    (256 * 1024) /* per worker */
#define DEST_BYTES    (1024 * 1024)
#define ALOG_LINE_MAX 16384 /* longer lines are cut (and still end in '\n') */
#define ATOMIC_WRITE  4096  /* PIPE_BUF: writes of whole lines up to this size never interleave */

/* ---- the ring -------------------------------------------------------------------------------- */

/* A record: an 8-byte header and the line, padded to 8. A header with pad set fills the end of
 * the buffer when the next record does not fit there. */
typedef struct rec_hdr {
    uint32_t len;
    uint16_t dest;
    uint16_t pad;
} rec_hdr_t;

struct gw_alog_ring {
    _Atomic size_t head; /* producer's position (bytes written, ever) */
    char _p1[64 - sizeof(size_t)];
    _Atomic size_t tail; /* consumer's position */
    char _p2[64 - sizeof(size_t)];
    size_t cap; /* a power of two */
    char *buf;
};

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

struct gw_alog_ring *gw_alog_ring_new(size_t cap)
{
    struct gw_alog_ring *r = pt_xcalloc(1, sizeof *r);
    size_t c = 64;
    while (c < cap)
        c <<= 1;
    r->cap = c;
    r->buf = pt_xmalloc(c);
    return r;
}

void gw_alog_ring_free(struct gw_alog_ring *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

size_t gw_alog_ring_used(struct gw_alog_ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) -
           atomic_load_explicit(&r->tail, memory_order_acquire);
}

bool gw_alog_ring_put(struct gw_alog_ring *r, uint16_t dest, const char *line, size_t len)
{
    size_t need = sizeof(rec_hdr_t) + ALIGN8(len);
    if (need > r->cap / 2)
        return false;
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t room = r->cap - (head - tail);
    size_t pos = head & (r->cap - 1);
    size_t contig = r->cap - pos;
    if (contig < need) {
        if (room < contig + need)
            return false;
        rec_hdr_t pad = {.len = (uint32_t)(contig - sizeof pad), .dest = 0, .pad = 1};
        memcpy(r->buf + pos, &pad, sizeof pad);
        head += contig;
        pos = 0;
    } else if (room < need) {
        return false;
    }
    rec_hdr_t h = {.len = (uint32_t)len, .dest = dest, .pad = 0};
    memcpy(r->buf + pos, &h, sizeof h);
    memcpy(r->buf + pos + sizeof h, line, len);
    atomic_store_explicit(&r->head, head + need, memory_order_release);
    return true;
}

bool gw_alog_ring_peek(struct gw_alog_ring *r, uint16_t *dest, const char **line, size_t *len)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    while (tail != head) {
        size_t pos = tail & (r->cap - 1);
        rec_hdr_t h;
        memcpy(&h, r->buf + pos, sizeof h);
        if (h.pad) {
            tail += sizeof h + h.len;
            atomic_store_explicit(&r->tail, tail, memory_order_release);
            continue;
        }
        *dest = h.dest;
        *line = r->buf + pos + sizeof h;
        *len = h.len;
        return true;
    }
    return false;
}

void gw_alog_ring_pop(struct gw_alog_ring *r)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    rec_hdr_t h;
    memcpy(&h, r->buf + (tail & (r->cap - 1)), sizeof h);
    atomic_store_explicit(&r->tail, tail + sizeof h + ALIGN8(h.len), memory_order_release);
}

/* ---- destinations ---------------------------------------------------------------------------- */

enum { W_FILE, W_NONBLOCK, W_SOCKET };

typedef struct gw_alog_dest {
    char *name; /* "stdout" or the path */
    bool is_stdout;
    int fd;
    int how; /* W_* */
    buf_t pending;
    size_t pending_lines;
    int64_t next_check_ms;
    /* written by the logging thread, read by the admin thread */
    _Atomic uint64_t lines, bytes, dropped, errors, reopens;
} gw_alog_dest_t;

/* How to write to fd without blocking where the kernel allows it. */
static int writer_for(int *fd, bool own)
{
    struct stat st;
    if (fstat(*fd, &st) != 0)
        return W_FILE;
    if (S_ISSOCK(st.st_mode))
        return W_SOCKET;
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        if (!own) {
            /* stdout: O_NONBLOCK is shared by every descriptor of the same open file
             * description (stderr may be one of them), so open a description of our own. */
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", *fd);
            int nfd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
            if (nfd < 0)
                return W_FILE; /* blocking: only the logging thread waits */
            close(*fd);
            *fd = nfd;
            return W_NONBLOCK;
        }
        int fl = fcntl(*fd, F_GETFL);
        if (fl >= 0)
            fcntl(*fd, F_SETFL, fl | O_NONBLOCK);
        return W_NONBLOCK;
    }
    return W_FILE;
}

static int open_path(const char *path, int *fd_out, int *how, buf_t *err)
{
    struct stat st;
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
    if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
        flags |= O_NONBLOCK; /* a FIFO with no reader fails (ENXIO) instead of waiting */
    int fd = open(path, flags, 0640);
    if (fd < 0) {
        if (err)
            buf_printf(err, "cannot open access log %s: %s", path, strerror(errno));
        return PT_EIO;
    }
    *how = writer_for(&fd, true);
    *fd_out = fd;
    return PT_OK;
}

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0750) != 0 && errno != EEXIST ? -1 : 0;
}

static int dest_find_or_add(gw_ops_t *ops, const char *name, bool is_stdout, buf_t *err)
{
    for (size_t i = 0; i < ops->ndests; i++)
        if (strcmp(ops->dests[i].name, name) == 0)
            return (int)i;
    if (ops->ndests >= 65535) {
        buf_printf(err, "too many access-log destinations");
        return PT_EINVAL;
    }
    int fd = -1, how = W_FILE;
    if (is_stdout) {
        fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            buf_printf(err, "cannot use stdout for access logs: %s", strerror(errno));
            return PT_EIO;
        }
        how = writer_for(&fd, false);
    } else if (open_path(name, &fd, &how, err) != PT_OK) {
        return PT_EIO;
    }
    ops->dests = pt_xrealloc(ops->dests, (ops->ndests + 1) * sizeof *ops->dests);
    gw_alog_dest_t *d = &ops->dests[ops->ndests];
    memset(d, 0, sizeof *d);
    d->name = pt_xstrdup(name);
    d->is_stdout = is_stdout;
    d->fd = fd;
    d->how = how;
    return (int)ops->ndests++;
}

int gw_alog_init(gw_ops_t *ops, buf_t *err)
{
    const route_config_t *cfg = ops->srv->cfg;
    ops->stage_fmt = pt_xcalloc(ops->nstages ? ops->nstages : 1, sizeof *ops->stage_fmt);
    ops->stage_dest = pt_xcalloc(ops->nstages ? ops->nstages : 1, sizeof *ops->stage_dest);
    buf_t path = BUF_INIT, why = BUF_INIT;
    int rc = PT_OK;
    for (size_t a = 0; a < cfg->napis && rc == PT_OK; a++) {
        const route_api_t *api = &cfg->apis[a];
        for (size_t s = 0; s < api->nstages && rc == PT_OK; s++) {
            const route_stage_t *st = &api->stages[s];
            size_t gs = gw_ops_stage_index(ops, api, st);
            if (!st->access_log_destination)
                continue;
            route_alog_dest_kind_t kind;
            buf_reset(&path);
            buf_reset(&why);
            if (route_alog_dest(st->access_log_destination, &kind, &path, &why) != PT_OK) {
                buf_printf(err, "stage %s: accessLogSettings.destinationArn: %s", st->name,
                           why.p ? why.p : "invalid");
                rc = PT_EINVAL;
                break;
            }
            const char *fmt =
                st->access_log_format ? st->access_log_format : route_alog_default_format;
            if (route_alog_compile(fmt, strlen(fmt), &ops->stage_fmt[gs], &why) != PT_OK) {
                buf_printf(err, "stage %s: accessLogSettings.format: %s", st->name,
                           why.p ? why.p : "invalid");
                rc = PT_EINVAL;
                break;
            }
            int d;
            if (kind == ROUTE_ALOG_DEST_STDOUT) {
                d = dest_find_or_add(ops, "stdout", true, err);
            } else if (kind == ROUTE_ALOG_DEST_FILE) {
                d = dest_find_or_add(ops, path.p, false, err);
            } else {
                char dir[4096], file[4600];
                snprintf(dir, sizeof dir, "%s/access-logs", ops->srv->cfg->server.data_dir);
                if (mkdir_p(dir) != 0) {
                    buf_printf(err, "cannot create %s: %s", dir, strerror(errno));
                    rc = PT_EIO;
                    break;
                }
                snprintf(file, sizeof file, "%s/%s", dir, path.p);
                d = dest_find_or_add(ops, file, false, err);
            }
            if (d < 0) {
                rc = d;
                break;
            }
            ops->stage_dest[gs] = d;
            ops->alog_on = true;
        }
    }
    buf_free(&path);
    buf_free(&why);
    if (rc != PT_OK)
        return rc;
    if (ops->alog_on) {
        ops->alog_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (ops->alog_efd < 0) {
            buf_printf(err, "eventfd: %s", strerror(errno));
            return PT_EIO;
        }
        for (int i = 0; i < ops->nwm; i++)
            ops->wm[i].ring = gw_alog_ring_new(RING_BYTES);
    }
    return PT_OK;
}

void gw_alog_free(gw_ops_t *ops)
{
    for (size_t i = 0; ops->stage_fmt && i < ops->nstages; i++)
        route_alog_free(ops->stage_fmt[i]);
    free(ops->stage_fmt);
    free(ops->stage_dest);
    for (size_t i = 0; i < ops->ndests; i++) {
        if (ops->dests[i].fd >= 0)
            close(ops->dests[i].fd);
        free(ops->dests[i].name);
        buf_free(&ops->dests[i].pending);
    }
    free(ops->dests);
    for (int i = 0; i < ops->nwm; i++)
        gw_alog_ring_free(ops->wm[i].ring);
    if (ops->alog_efd >= 0)
        close(ops->alog_efd);
}

bool gw_alog_dest_stats(const gw_ops_t *ops, size_t i, gw_alog_stats_t *out)
{
    if (i >= ops->ndests)
        return false;
    gw_alog_dest_t *d = &ops->dests[i];
    out->name = d->name;
    out->lines = gw_ctr_get(&d->lines);
    out->bytes = gw_ctr_get(&d->bytes);
    out->dropped = gw_ctr_get(&d->dropped);
    out->errors = gw_ctr_get(&d->errors);
    out->reopens = gw_ctr_get(&d->reopens);
    return true;
}

/* ---- the logging thread
 * -------------------------------------------------------------------------- */

/* Log rotation renamed or removed the file: open the path again. */
static void maybe_reopen(gw_alog_dest_t *d, int64_t now)
{
    if (d->is_stdout || now < d->next_check_ms)
        return;
    d->next_check_ms = now + 1000;
    struct stat a, b;
    bool same = stat(d->name, &a) == 0 && d->fd >= 0 && fstat(d->fd, &b) == 0 &&
                a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    if (same)
        return;
    int fd, how;
    if (open_path(d->name, &fd, &how, NULL) != PT_OK)
        return; /* try again in a second; lines wait in the buffer (bounded) */
    if (d->fd >= 0)
        close(d->fd);
    d->fd = fd;
    d->how = how;
    gw_ctr_add(&d->reopens, 1);
}

/* Writes what it can of d->pending; returns false when the destination would block. */
static bool dest_flush(gw_alog_dest_t *d)
{
    while (d->pending.len > 0) {
        if (d->fd < 0)
            return false;
        size_t n = d->pending.len;
        if (d->how != W_FILE && n > ATOMIC_WRITE) {
            /* Whole lines only, so lines from other writers of a shared pipe never land
             * inside ours; a single line longer than PIPE_BUF goes alone. */
            const char *cut = memrchr(d->pending.p, '\n', ATOMIC_WRITE);
            n = cut ? (size_t)(cut - d->pending.p) + 1 : ATOMIC_WRITE;
        }
        ssize_t w = d->how == W_SOCKET ? send(d->fd, d->pending.p, n, MSG_DONTWAIT | MSG_NOSIGNAL)
                                       : write(d->fd, d->pending.p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return false;
            /* A hard error (disk full, reader gone): these lines are lost; count them. */
            gw_ctr_add(&d->errors, 1);
            gw_ctr_add(&d->dropped, d->pending_lines);
            d->pending_lines = 0;
            buf_reset(&d->pending);
            return true;
        }
        gw_ctr_add(&d->bytes, (uint64_t)w);
        size_t lines = 0;
        for (ssize_t i = 0; i < w; i++)
            lines += d->pending.p[i] == '\n';
        lines = lines > d->pending_lines ? d->pending_lines : lines;
        d->pending_lines -= lines;
        gw_ctr_add(&d->lines, lines);
        buf_consume(&d->pending, (size_t)w);
    }
    return true;
}

/* Moves every ring's lines into their destinations' buffers. */
static size_t drain(gw_ops_t *ops)
{
    size_t moved = 0;
    for (int i = 0; i < ops->nwm; i++) {
        struct gw_alog_ring *r = ops->wm[i].ring;
        uint16_t dest;
        const char *line;
        size_t len;
        while (gw_alog_ring_peek(r, &dest, &line, &len)) {
            gw_alog_dest_t *d = &ops->dests[dest < ops->ndests ? dest : 0];
            if (d->pending.len + len > DEST_BYTES) {
                gw_ctr_add(&d->dropped, 1);
            } else {
                buf_append(&d->pending, line, len);
                d->pending_lines++;
            }
            gw_alog_ring_pop(r);
            moved++;
        }
    }
    return moved;
}

static void *logger_main(void *arg)
{
    gw_ops_t *ops = arg;
    int64_t stop_deadline = 0;
    for (;;) {
        bool stopping = atomic_load(&ops->alog_stop);
        bool blocked = false;
        drain(ops);
        int64_t now = time_mono_ms();
        for (size_t i = 0; i < ops->ndests; i++) {
            maybe_reopen(&ops->dests[i], now);
            if (!dest_flush(&ops->dests[i]))
                blocked = true;
        }
        if (stopping) {
            /* Workers are done: everything is in the buffers now. Give blocked pipes a
             * little time, then count what is left as dropped. */
            if (!stop_deadline)
                stop_deadline = now + 2000;
            if (!blocked || now >= stop_deadline)
                break;
        }
        struct pollfd pfd = {.fd = ops->alog_efd, .events = POLLIN};
        if (poll(&pfd, 1, blocked ? 20 : 100) > 0) {
            uint64_t v;
            if (read(ops->alog_efd, &v, sizeof v) < 0) {
                /* EAGAIN: another wake-up already took it */
            }
        }
    }
    for (size_t i = 0; i < ops->ndests; i++) {
        gw_ctr_add(&ops->dests[i].dropped, ops->dests[i].pending_lines);
        ops->dests[i].pending_lines = 0;
        buf_reset(&ops->dests[i].pending);
    }
    return NULL;
}

void gw_alog_start(gw_ops_t *ops)
{
    if (!ops->alog_on)
        return;
    if (pthread_create(&ops->alog_thread, NULL, logger_main, ops) == 0)
        ops->alog_running = true;
    else
        LOG_ERROR("access logs: cannot start the logging thread; lines will be dropped");
}

void gw_alog_stop(gw_ops_t *ops)
{
    if (!ops->alog_running)
        return;
    atomic_store(&ops->alog_stop, true);
    uint64_t one = 1;
    if (write(ops->alog_efd, &one, sizeof one) < 0) {
        /* the thread polls every 100 ms anyway */
    }
    pthread_join(ops->alog_thread, NULL);
    ops->alog_running = false;
}

/* ---- lines (worker thread)
 * ------------------------------------------------------------------------- */

typedef struct extra {
    const route_ctx_t *ctx;
    const gw_alog_http_t *http;
    const char *integ_error;
} extra_t;

static bool extra_var(void *ud, const char *name, size_t n, buf_t *out)
{
    const extra_t *x = ud;
    const gw_alog_http_t *h = x->http;
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(name, lit, n) == 0)
    if (IS("routeKey") && !x->ctx->route &&
        (x->ctx->kind == ROUTE_EV_CONNECT || x->ctx->kind == ROUTE_EV_DISCONNECT)) {
        /* An API without a $connect / $disconnect route still has these events. */
        buf_puts(out, x->ctx->kind == ROUTE_EV_CONNECT ? "$connect" : "$disconnect");
        return true;
    }
    if (IS("integration.error") || IS("integrationErrorMessage")) {
        if (!x->integ_error)
            return false;
        buf_puts(out, x->integ_error);
        return true;
    }
    if (!h)
        return false;
    if (IS("httpMethod") && h->http_method) {
        buf_append(out, h->http_method, h->http_method_len);
        return true;
    }
    if (IS("path") && h->path) {
        buf_append(out, h->path, h->path_len);
        return true;
    }
    if (IS("protocol") && h->protocol) {
        buf_puts(out, h->protocol);
        return true;
    }
    if (IS("responseLatency") && h->response_latency_ms >= 0) {
        buf_printf(out, "%lld", (long long)h->response_latency_ms);
        return true;
    }
    if (IS("responseLength") && h->response_length >= 0) {
        buf_printf(out, "%lld", (long long)h->response_length);
        return true;
    }
    return false;
#undef IS
}

static void alog_line(gw_worker_t *w, const route_ctx_t *ctx, const extra_t *x)
{
    gw_wmetrics_t *m = w->m;
    if (!m || !m->ring || !ctx->api || !ctx->stage)
        return;
    gw_ops_t *ops = w->srv->ops;
    size_t gs = gw_ops_stage_index(ops, ctx->api, ctx->stage);
    const route_alog_t *fmt = ops->stage_fmt[gs];
    if (!fmt)
        return;
    buf_reset(&m->alog_line);
    route_alog_render(fmt, ctx, extra_var, (void *)x, &m->alog_line, &m->alog_scratch);
    size_t len = m->alog_line.len;
    if (len > ALOG_LINE_MAX) {
        m->alog_line.p[ALOG_LINE_MAX - 1] = '\n';
        len = ALOG_LINE_MAX;
    }
    size_t before = gw_alog_ring_used(m->ring);
    if (!gw_alog_ring_put(m->ring, (uint16_t)ops->stage_dest[gs], m->alog_line.p, len)) {
        gw_ctr_add(&m->alog_dropped, 1);
        return;
    }
    gw_ctr_add(&m->alog_lines, 1);
    /* The thread looks every 100 ms; wake it early when this ring passes half full. */
    if (before < RING_BYTES / 2 && before + len >= RING_BYTES / 2) {
        uint64_t one = 1;
        if (write(ops->alog_efd, &one, sizeof one) < 0) {
            /* full counter: a wake-up is pending anyway */
        }
    }
}

void gw_alog(gw_worker_t *w, const route_ctx_t *ctx, const gw_alog_http_t *http)
{
    extra_t x = {.ctx = ctx, .http = http, .integ_error = NULL};
    alog_line(w, ctx, &x);
}

void gw_alog_ws(gw_worker_t *w, const gw_ws_t *ws, route_event_kind_t kind,
                const route_route_t *route, const char *request_id, int status, const char *error)
{
    if (!w->m || !w->m->ring)
        return;
    gw_server_t *srv = w->srv;
    char rid[ID_LEN + 1];
    if (!request_id) {
        id_request_new(&w->ids, rid);
        request_id = rid;
    }
    route_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.api = ws->api;
    ctx.stage = ws->stage;
    ctx.route = route;
    ctx.kind = kind;
    ctx.connection_id = ws->id;
    ctx.request_id = request_id;
    ctx.domain_name = ws->domain;
    ctx.region = srv->cfg->server.region;
    ctx.account_id = srv->cfg->server.account_id;
    ctx.connected_at_ms = ws->connected_at_ms;
    ctx.request_time_ms = time_now_ms();
    ctx.source_ip = ws->source_ip;
    ctx.user_agent = ws->user_agent;
    ctx.server_port = srv->listen_port;
    ctx.integration_latency_ms = -1;
    ctx.status = status;
    ctx.error_message = error;
    if (kind == ROUTE_EV_DISCONNECT) {
        /* The code and reason $disconnect reports (connect.c gw_disconnect). */
        if (ws->server_close_code) {
            ctx.disconnect_status_code = ws->server_close_code;
            ctx.disconnect_reason = ws->server_close_reason ? ws->server_close_reason : "";
        } else if (ws->close_code) {
            ctx.disconnect_status_code = ws->close_code;
            ctx.disconnect_reason = ws->close_reason ? ws->close_reason : "";
        } else {
            ctx.disconnect_status_code = WS_CLOSE_ABNORMAL;
            ctx.disconnect_reason = "";
        }
    }
    gw_alog(w, &ctx, NULL);
}

void gw_ops_outcome(gw_worker_t *w, route_ctx_t *ctx, const route_integ_result_t *res,
                    const route_outcome_t *out)
{
    bool transport = res && res->error != PT_OK;
    if (out->integration_error && res && !transport && !res->function_error && res->status < 400)
        gw_m_exec_error(w, ctx->api, ctx->stage, ctx->route); /* a malformed result */
    if (!w->m || !w->m->ring)
        return; /* no stage logs: the rest only feeds the line */
    if (res && !transport)
        ctx->integration_status = res->status;
    if (ctx->kind == ROUTE_EV_CONNECT) {
        ctx->status = out->status ? out->status : 500;
        if (out->integration_error)
            ctx->error_message =
                out->status == 504 ? "Endpoint request timed out" : "Internal server error";
    } else {
        ctx->status = out->integration_error ? 500 : 200;
        if (out->integration_error)
            ctx->error_message = "Internal server error";
    }
    extra_t x = {
        .ctx = ctx, .http = NULL, .integ_error = transport ? pt_strerror(res->error) : NULL};
    alog_line(w, ctx, &x);
}

void gw_ops_submit_failed(gw_worker_t *w, route_ctx_t *ctx)
{
    gw_m_exec_error(w, ctx->api, ctx->stage, ctx->route);
    ctx->status = 500;
    ctx->error_message = "Internal server error";
    gw_alog(w, ctx, NULL);
}

void gw_ops_no_route(gw_worker_t *w, const gw_ws_t *ws, const char *request_id)
{
    gw_m_client_error(w, ws->api, ws->stage, NULL);
    gw_alog_ws(w, ws, ROUTE_EV_MESSAGE, NULL, request_id, 403, "Forbidden");
}
