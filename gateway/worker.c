/* worker.c: a worker thread: one epoll loop, its listener, inbox, timers and registry batch. */
#include "gateway/gw.h"
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define SCRATCH_BYTES (64 * 1024)
#define ACCEPT_BURST  64

int gw_worker_init(gw_worker_t *w, gw_server_t *srv, int index, int listen_fd, bool is_admin)
{
    const route_limits_t *lim = srv->limits;
    memset(w, 0, sizeof *w);
    w->index = index;
    w->is_admin = is_admin;
    w->srv = srv;
    w->listen_fd = listen_fd;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0)
        return PT_EIO;
    if (inbox_init(&w->inbox) != PT_OK)
        return PT_EIO;
    id_gen_init(&w->ids, srv->node, (uint8_t)index);
    w->scratch_cap = SCRATCH_BYTES;
    w->scratch = pt_xmalloc(w->scratch_cap);
    w->batch = store_batch_new();
    w->m = gw_ops_worker(srv, index);
    gw_tq_init(&w->tq_head, (int64_t)lim->head_timeout_s * 1000);
    gw_tq_init(&w->tq_keepalive, 60 * 1000);
    gw_tq_init(&w->tq_body, (int64_t)lim->head_timeout_s * 1000 * 3);
    gw_tq_init(&w->tq_pending, 35 * 1000);
    gw_tq_init(&w->tq_idle, (int64_t)lim->idle_timeout_s * 1000);
    gw_tq_init(&w->tq_age, (int64_t)lim->max_connection_s * 1000);
    gw_tq_init(&w->tq_closing, 5 * 1000);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &w->listen_fd};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, listen_fd, &e) != 0)
        return PT_EIO;
    e.data.ptr = &w->inbox;
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, inbox_fd(&w->inbox), &e) != 0)
        return PT_EIO;
    return PT_OK;
}

static void free_msg(inbox_msg_t *m)
{
    switch (m->type) {
    case GW_MSG_INTEG:
        gw_call_free((gw_call_t *)m);
        break;
    case GW_MSG_CB_REQ:
    case GW_MSG_CB_REPLY:
        free(((gw_cb_msg_t *)m)->data);
        free(m);
        break;
    default:
        free(m);
    }
}

void gw_worker_dispose(gw_worker_t *w)
{
    inbox_close(&w->inbox);
    inbox_dispose(&w->inbox, free_msg);
    if (w->listen_fd >= 0)
        close(w->listen_fd);
    if (w->epfd >= 0)
        close(w->epfd);
    free(w->scratch);
    free(w->table.slots);
    free(w->parked);
    if (w->batch)
        store_batch_free(w->batch);
    gw_outbox_retries_free(w);
    sodium_memzero(&w->sigv4_cache, sizeof w->sigv4_cache);
}

bool gw_worker_post(gw_worker_t *w, inbox_msg_t *m)
{
    return inbox_push(&w->inbox, m);
}

gw_conn_t *gw_worker_find(gw_worker_t *w, const char *id)
{
    return gw_table_get(&w->table, id);
}

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
    if (ss->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)n);
    } else if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)n); /* ::ffff:a.b.c.d */
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)n);
    } else {
        snprintf(out, n, "127.0.0.1");
    }
}

static void on_accept(gw_worker_t *w)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(w->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: the listener stays readable, so pause it briefly
                 * instead of spinning (async-connect.md pitfall 9). */
                LOG_WARN("worker %d: accept: %s; pausing the listener for 100 ms", w->index,
                         strerror(errno));
                epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
                w->listen_paused = true;
                w->listen_resume_ms = time_mono_ms() + 100;
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char ip[64];
        peer_text(&ss, ip, sizeof ip);
        struct sockaddr_storage ls;
        socklen_t ll = sizeof ls;
        int lport = 0;
        if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
            lport = ntohs(ls.ss_family == AF_INET ? ((struct sockaddr_in *)&ls)->sin_port
                                                  : ((struct sockaddr_in6 *)&ls)->sin6_port);
        gw_conn_accept(w, fd, ip, lport);
    }
}

static void begin_stop(gw_worker_t *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    w->stop_deadline_ms = time_mono_ms() + w->srv->limits->shutdown_grace_ms;
    if (w->listen_fd >= 0) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
        close(w->listen_fd);
        w->listen_fd = -1;
    }
    /* Close every WebSocket with 1001 ($disconnect follows for each); idle HTTP goes now;
     * requests in progress finish and then close (gw_http_done sees `stopping`). */
    for (gw_conn_t *c = w->all_conns, *next; c; c = next) {
        next = c->all_next;
        if (c->state == GW_CS_WS)
            gw_ws_close(c, WS_CLOSE_GOING_AWAY, "Going away");
        else if (c->state == GW_CS_HEAD && c->rlen == 0 && !c->out_head)
            gw_conn_close(c);
    }
}

static void on_inbox(gw_worker_t *w)
{
    inbox_msg_t *m = inbox_take(&w->inbox);
    while (m) {
        inbox_msg_t *next = m->next;
        switch (m->type) {
        case GW_MSG_INTEG:
            gw_on_integ(w, (gw_call_t *)m);
            break;
        case GW_MSG_CB_REQ:
            gw_cb_on_msg(w, (gw_cb_msg_t *)m);
            break;
        case GW_MSG_CB_REPLY:
            gw_cb_on_reply(w, (gw_cb_msg_t *)m);
            break;
        case GW_MSG_STOP:
            free(m);
            begin_stop(w);
            break;
        default:
            free(m);
        }
        m = next;
    }
}

static gw_conn_t *conn_of(gw_tnode_t *n, bool age)
{
    return age ? (gw_conn_t *)((char *)n - offsetof(gw_conn_t, t_age))
               : (gw_conn_t *)((char *)n - offsetof(gw_conn_t, t_main));
}

static void expire(gw_worker_t *w, int64_t now)
{
    gw_tqueue_t *qs[] = {&w->tq_head, &w->tq_keepalive, &w->tq_body, &w->tq_pending,
                         &w->tq_idle, &w->tq_closing,   &w->tq_age};
    for (size_t i = 0; i < PT_ARRAY_LEN(qs); i++) {
        gw_tnode_t *n;
        /* Bounded per turn so a mass expiry cannot stall the loop. */
        for (int k = 0; k < 1024 && (n = gw_tq_pop_expired(qs[i], now)); k++)
            gw_conn_timeout(conn_of(n, qs[i] == &w->tq_age), qs[i]);
    }
}

static int next_timeout(gw_worker_t *w, int64_t now)
{
    int64_t best = 1000;
    gw_tqueue_t *qs[] = {&w->tq_head, &w->tq_keepalive, &w->tq_body, &w->tq_pending,
                         &w->tq_idle, &w->tq_closing,   &w->tq_age};
    for (size_t i = 0; i < PT_ARRAY_LEN(qs); i++) {
        int64_t t = gw_tq_next(qs[i], now);
        if (t >= 0 && t < best)
            best = t;
    }
    if (w->listen_paused) {
        int64_t t = w->listen_resume_ms - now;
        if (t < best)
            best = t < 0 ? 0 : t;
    }
    int64_t r = gw_outbox_next_retry(w, now);
    if (r >= 0 && r < best)
        best = r;
    return (int)best;
}

static void flush_all(gw_worker_t *w)
{
    gw_conn_t *c = w->flush_list;
    w->flush_list = NULL;
    while (c) {
        gw_conn_t *next = c->flush_next;
        c->in_flush_list = false;
        c->flush_next = NULL;
        /* A blocked connection (a stalled client) waits for EPOLLOUT: another writev would
         * only return EAGAIN. */
        if (c->fd >= 0 && !c->write_blocked)
            gw_conn_flush(c);
        c = next;
    }
}

static void close_all(gw_worker_t *w)
{
    /* Past the grace period: whatever is still open ends now. */
    while (w->all_conns)
        gw_conn_close(w->all_conns);
}

int gw_worker_run(gw_worker_t *w)
{
    struct epoll_event evs[256];
    for (;;) {
        int64_t now = time_mono_ms();
        /* Registry writes left by the last turn (a close in flush_all) commit without waiting
         * for the next event, so the registry and the gauges agree at once. */
        int timeout = (w->flush_list || w->commit_list || store_batch_len(w->batch))
                          ? 0
                          : next_timeout(w, now);
        if (w->is_admin)
            timeout = gw_admin_timeout(w, now, timeout);
        /* Producers write the inbox's eventfd only while we sleep (common/inbox.h). */
        if (timeout != 0 && !inbox_sleep(&w->inbox))
            timeout = 0;
        int n = epoll_wait(w->epfd, evs, PT_ARRAY_LEN(evs), timeout);
        inbox_awake(&w->inbox);
        if (n < 0 && errno != EINTR) {
            LOG_ERROR("worker %d: epoll_wait: %s", w->index, strerror(errno));
            return PT_EIO;
        }
        int64_t turn_us = time_mono_us(); /* loop lag: how long this turn keeps events waiting */
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &w->listen_fd)
                on_accept(w);
            else if (p == &w->inbox)
                inbox_clear_fd(&w->inbox);
            else
                gw_conn_on_events(p, evs[i].events);
        }
        on_inbox(w); /* every turn: a busy worker is not woken for its hand-offs */
        now = time_mono_ms();
        expire(w, now);
        gw_outbox_retry(w, now);
        if (w->is_admin)
            gw_admin_tick(w, now);
        if (w->listen_paused && now >= w->listen_resume_ms && w->listen_fd >= 0) {
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = &w->listen_fd};
            epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->listen_fd, &e);
            w->listen_paused = false;
        }
        gw_commit_turn(w);
        flush_all(w);
        gw_worker_free_dead(w);
        gw_m_loop(w, time_mono_us() - turn_us);
        if (w->stopping) {
            if (w->nconns == 0 || now >= w->stop_deadline_ms) {
                close_all(w);
                gw_commit_turn(w);
                gw_worker_free_dead(w);
                break;
            }
        }
    }
    return PT_OK;
}
