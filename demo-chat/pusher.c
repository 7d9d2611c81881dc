/* pusher.c: POST /{stage}/@connections/{id} signed with SigV4, many at once, over curl multi. */
#include "demo-chat/server.h"

#include "common/err.h"
#include "common/mem.h"
#include "common/sigv4.h"
#include "common/timefmt.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>

/*
 * What a Lambda handler of AWS's chat sample does with PostToConnectionCommand, done so that
 * one connection cannot hurt the others:
 *
 *  - libcurl's multi interface runs on the server's epoll loop (socket and timer callbacks),
 *    so nothing blocks: an event is answered at once and its pushes go out afterwards;
 *  - at most max_inflight pushes run at once (slots), at most one per member (chat.c's queues
 *    keep each member's messages in order), each with its own timeout, so a slow or dead
 *    connection holds one slot for at most timeout_ms and never delays a push to anyone else;
 *  - 410 GoneException removes the member (chat_push_done) instead of failing the broadcast.
 *
 * Connections to Portico are kept alive and reused by the multi handle's connection cache.
 */

typedef struct slot {
    CURL *easy;
    struct curl_slist *hdrs;
    char cid[CHAT_CID_LEN + 1];
    chat_payload_t *payload;
    char errbuf[CURL_ERROR_SIZE];
    char resp[256]; /* the start of an error response, for the log */
    size_t resp_len;
    struct slot *next_free;
} slot_t;

typedef struct sock {
    chat_src_t src;
    struct sock *prev, *next; /* live sockets, or the dead list (next only) */
} sock_t;

struct chat_pusher {
    int epfd;
    chat_state_t *st;
    CURLM *multi;
    slot_t *slots;
    slot_t *free_slots;
    int inflight;
    int max_inflight;
    int timeout_ms;
    int64_t curl_deadline_ms; /* monotonic; -1: none */
    sock_t *live;             /* sockets libcurl asked us to watch */
    sock_t *dead;             /* removed during this batch of events; freed by chat_pusher_reap */
    sigv4_cache_t cache;
    /* Credentials and where Portico is. */
    char *akid, *secret, *token, *region;
    char host[300]; /* Host header value: "127.0.0.1:8080" */
    char stage[130];
    char *port_file;
    char *port_host;
    struct timespec pf_mtime;
    off_t pf_size;
    ino_t pf_ino;
    int64_t pf_checked_ms;
    int port;
    bool forbidden_logged;
};

/* ---- where Portico is ------------------------------------------------------------------- */

static int parse_endpoint(chat_pusher_t *p, const char *url, char *err, size_t cap)
{
    const char *s = url;
    if (strncmp(s, "http://", 7) != 0) {
        snprintf(err, cap, "--endpoint %s: expected http://HOST:PORT/STAGE", url);
        return PT_EINVAL;
    }
    s += 7;
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    const char *stage = slash ? slash + 1 : "";
    size_t sl = strlen(stage);
    while (sl && stage[sl - 1] == '/')
        sl--;
    if (hl == 0 || hl >= sizeof p->host || sl == 0 || sl >= sizeof p->stage ||
        memchr(stage, '/', sl) || memchr(s, '@', hl)) {
        snprintf(err, cap, "--endpoint %s: expected http://HOST:PORT/STAGE", url);
        return PT_EINVAL;
    }
    memcpy(p->host, s, hl);
    p->host[hl] = '\0';
    memcpy(p->stage, stage, sl);
    p->stage[sl] = '\0';
    const char *colon = strrchr(p->host, ':');
    p->port = colon ? atoi(colon + 1) : 80;
    return PT_OK;
}

/* Reads Portico's port file when it changed: {"listen": PORT, "admin": PORT}. Portico may
 * restart on another port (port 0); pushes follow it without a restart of this process. */
static void refresh_port(chat_pusher_t *p)
{
    if (!p->port_file)
        return;
    int64_t now = time_mono_ms();
    if (p->port && now - p->pf_checked_ms < 250)
        return;
    p->pf_checked_ms = now;
    struct stat sb;
    if (stat(p->port_file, &sb) != 0) {
        p->port = 0;
        return;
    }
    if (p->port && sb.st_ino == p->pf_ino && sb.st_size == p->pf_size &&
        sb.st_mtim.tv_sec == p->pf_mtime.tv_sec && sb.st_mtim.tv_nsec == p->pf_mtime.tv_nsec)
        return;
    json_t *j = json_load_file(p->port_file, 0, NULL);
    json_t *v = json_object_get(j, "listen");
    int port = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    json_decref(j);
    if (port <= 0 || port > 65535)
        return;
    if (port != p->port)
        chat_log(CHAT_LOG_INFO, "pushing to Portico at http://%s:%d/%s", p->port_host, port,
                 p->stage);
    p->port = port;
    p->pf_ino = sb.st_ino;
    p->pf_size = sb.st_size;
    p->pf_mtime = sb.st_mtim;
    snprintf(p->host, sizeof p->host, "%s:%d", p->port_host, port);
}

int chat_pusher_port(chat_pusher_t *p)
{
    refresh_port(p);
    return p->port;
}

const char *chat_pusher_stage(const chat_pusher_t *p)
{
    return p->stage;
}

int chat_pusher_inflight(const chat_pusher_t *p)
{
    return p->inflight;
}

/* ---- libcurl on the epoll loop ---------------------------------------------------------- */

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    chat_pusher_t *p = userp;
    sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
            s->src.fd = -1;
            if (s->prev)
                s->prev->next = s->next;
            else
                p->live = s->next;
            if (s->next)
                s->next->prev = s->prev;
            s->prev = NULL;
            s->next = p->dead;
            p->dead = s;
        }
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    if (!s) {
        s = pt_xcalloc(1, sizeof *s);
        s->src.kind = CHAT_SRC_CURL;
        s->src.fd = fd;
        ev.data.ptr = s;
        if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            free(s);
            return -1;
        }
        curl_multi_assign(p->multi, fd, s);
        s->next = p->live;
        if (p->live)
            p->live->prev = s;
        p->live = s;
    } else {
        ev.data.ptr = s;
        if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
            return -1;
    }
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    chat_pusher_t *p = userp;
    p->curl_deadline_ms = timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;
    return 0;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    slot_t *s = userp;
    size_t len = size * n, room = sizeof s->resp - 1 - s->resp_len;
    size_t take = len < room ? len : room;
    memcpy(s->resp + s->resp_len, data, take);
    s->resp_len += take;
    s->resp[s->resp_len] = '\0';
    return len;
}

/* ---- one push --------------------------------------------------------------------------- */

static void slot_release(chat_pusher_t *p, slot_t *s)
{
    curl_multi_remove_handle(p->multi, s->easy);
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    chat_payload_unref(s->payload);
    s->payload = NULL;
    s->next_free = p->free_slots;
    p->free_slots = s;
    p->inflight--;
}

/* Appends the "Name: value\r\n" lines of `lines` to the list. */
static struct curl_slist *add_lines(struct curl_slist *list, const buf_t *lines)
{
    const char *q = lines->p, *end = lines->p + lines->len;
    while (q < end) {
        const char *eol = memchr(q, '\n', (size_t)(end - q));
        size_t n = (size_t)((eol ? eol : end) - q);
        if (n && q[n - 1] == '\r')
            n--;
        if (n) {
            char line[2048];
            if (n < sizeof line) {
                memcpy(line, q, n);
                line[n] = '\0';
                list = curl_slist_append(list, line);
            }
        }
        q = eol ? eol + 1 : end;
    }
    return list;
}

static int start_one(chat_pusher_t *p, slot_t *s, const char *cid, chat_payload_t *payload)
{
    /* The id goes in the path percent-encoded ('=' is "%3D"), as the AWS SDKs send it; the
     * signature covers the path as sent. */
    char target[CHAT_CID_LEN + 200], url[sizeof target + sizeof p->host + 16];
    size_t cl = strlen(cid);
    snprintf(target, sizeof target, "/%s/@connections/%.*s%s", p->stage, (int)(cl - 1), cid,
             cid[cl - 1] == '=' ? "%3D" : "");
    snprintf(url, sizeof url, "http://%s%s", p->host, target);

    buf_t hdr = BUF_INIT;
    sigv4_sign_params_t sp = {
        .access_key_id = p->akid,
        .secret_access_key = p->secret,
        .session_token = p->token,
        .region = p->region,
        .service = "execute-api",
        .now = (int64_t)time(NULL),
        .method = "POST",
        .host = p->host,
        .target = target,
        .body = payload->data,
        .body_len = payload->len,
        .cache = &p->cache,
    };
    int rc = sigv4_sign(&sp, &hdr);
    if (rc != PT_OK) {
        buf_free(&hdr);
        return rc;
    }
    buf_printf(&hdr, "Host: %s\r\n", p->host);
    buf_puts(&hdr, "Content-Type: application/json\r\nExpect:\r\nAccept:\r\n");
    s->hdrs = add_lines(NULL, &hdr);
    buf_free(&hdr);

    curl_easy_reset(s->easy);
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, (void *)payload->data);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)payload->len);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    s->errbuf[0] = '\0';
    s->resp_len = 0;
    s->resp[0] = '\0';
    memcpy(s->cid, cid, CHAT_CID_LEN + 1);
    s->payload = payload;
    p->inflight++;
    if (curl_multi_add_handle(p->multi, s->easy) != CURLM_OK) {
        s->payload = NULL; /* the caller still owns it */
        slot_release(p, s);
        return PT_EIO;
    }
    return PT_OK;
}

static void finish(chat_pusher_t *p, slot_t *s, CURLcode res)
{
    long status = 0;
    if (res == CURLE_OK)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    chat_push_outcome_t out;
    if (res == CURLE_OK && status == 200) {
        out = CHAT_PUSH_OK;
    } else if (status == 410) {
        out = CHAT_PUSH_GONE;
        chat_log(CHAT_LOG_INFO, "push to %s: 410 GoneException: removing the member", s->cid);
    } else if (status == 429) {
        out = CHAT_PUSH_THROTTLED;
        chat_log(CHAT_LOG_WARN, "push to %s: 429: its queue at Portico is full, message lost",
                 s->cid);
    } else {
        out = CHAT_PUSH_FAILED;
        if (status == 403 && !p->forbidden_logged) {
            p->forbidden_logged = true;
            chat_log(CHAT_LOG_ERROR,
                     "push to %s: 403 %s (are the credentials in Portico's server.credentials, "
                     "and the region its server.region?)",
                     s->cid, s->resp);
        } else if (res != CURLE_OK) {
            chat_log(CHAT_LOG_WARN, "push to %s failed: %s", s->cid,
                     s->errbuf[0] ? s->errbuf : curl_easy_strerror(res));
        } else if (status != 403) {
            chat_log(CHAT_LOG_WARN, "push to %s: HTTP %ld %s", s->cid, status, s->resp);
        }
    }
    char cid[CHAT_CID_LEN + 1];
    memcpy(cid, s->cid, sizeof cid);
    slot_release(p, s);
    chat_push_done(p->st, cid, out, time_now_ms());
}

static void drain(chat_pusher_t *p)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(p->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        slot_t *s = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (s)
            finish(p, s, m->data.result);
    }
    chat_pusher_kick(p);
}

void chat_pusher_kick(chat_pusher_t *p)
{
    refresh_port(p);
    while (p->free_slots) {
        char cid[CHAT_CID_LEN + 1];
        chat_payload_t *payload;
        if (!chat_push_next(p->st, cid, &payload))
            break;
        if (!p->port) {
            /* Portico's port is not known yet (its port file is missing): the message is
             * lost for this member, as with any failed push. */
            chat_payload_unref(payload);
            chat_push_done(p->st, cid, CHAT_PUSH_FAILED, time_now_ms());
            continue;
        }
        slot_t *s = p->free_slots;
        p->free_slots = s->next_free;
        if (start_one(p, s, cid, payload) != PT_OK) {
            chat_payload_unref(payload);
            chat_push_done(p->st, cid, CHAT_PUSH_FAILED, time_now_ms());
        }
    }
}

void chat_pusher_io(chat_pusher_t *p, chat_src_t *src, uint32_t events)
{
    if (src->fd < 0)
        return;
    int flags = ((events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                ((events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                ((events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
    int running;
    curl_multi_socket_action(p->multi, src->fd, flags, &running);
    drain(p);
}

int chat_pusher_wait_ms(const chat_pusher_t *p)
{
    if (p->curl_deadline_ms < 0)
        return -1;
    int64_t d = p->curl_deadline_ms - time_mono_ms();
    return d < 0 ? 0 : d > 1000 ? 1000 : (int)d;
}

void chat_pusher_tick(chat_pusher_t *p)
{
    if (p->curl_deadline_ms < 0 || time_mono_ms() < p->curl_deadline_ms)
        return;
    p->curl_deadline_ms = -1;
    int running;
    curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain(p);
}

void chat_pusher_reap(chat_pusher_t *p)
{
    while (p->dead) {
        sock_t *s = p->dead;
        p->dead = s->next;
        free(s);
    }
}

/* ---- life ------------------------------------------------------------------------------- */

int chat_pusher_create(int epfd, chat_state_t *st, const chat_pusher_opts_t *o, chat_pusher_t **out,
                       char *err, size_t err_cap)
{
    chat_pusher_t *p = pt_xcalloc(1, sizeof *p);
    int rc = PT_EINVAL;
    p->epfd = epfd;
    p->st = st;
    p->curl_deadline_ms = -1;
    p->max_inflight = o->max_inflight > 0 ? o->max_inflight : 32;
    p->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    if (!o->access_key_id || !o->secret_access_key || !*o->access_key_id ||
        !*o->secret_access_key) {
        snprintf(err, err_cap,
                 "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                 "to a key listed in Portico's server.credentials");
        goto fail;
    }
    p->akid = pt_xstrdup(o->access_key_id);
    p->secret = pt_xstrdup(o->secret_access_key);
    p->token = o->session_token && *o->session_token ? pt_xstrdup(o->session_token) : NULL;
    p->region = pt_xstrdup(o->region && *o->region ? o->region : "us-east-1");
    if (o->endpoint) {
        if ((rc = parse_endpoint(p, o->endpoint, err, err_cap)) != PT_OK)
            goto fail;
    } else if (o->port_file) {
        p->port_file = pt_xstrdup(o->port_file);
        p->port_host = pt_xstrdup(o->host ? o->host : "127.0.0.1");
        snprintf(p->stage, sizeof p->stage, "%s", o->stage ? o->stage : "dev");
    } else {
        snprintf(err, err_cap, "say where Portico is: --endpoint URL or --endpoint-port-file");
        goto fail;
    }
    rc = PT_EIO;
    if (!(p->multi = curl_multi_init())) {
        snprintf(err, err_cap, "curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, (long)p->max_inflight);
    p->slots = pt_xcalloc((size_t)p->max_inflight, sizeof *p->slots);
    for (int i = p->max_inflight - 1; i >= 0; i--) {
        if (!(p->slots[i].easy = curl_easy_init())) {
            snprintf(err, err_cap, "curl_easy_init failed");
            goto fail;
        }
        p->slots[i].next_free = p->free_slots;
        p->free_slots = &p->slots[i];
    }
    refresh_port(p);
    *out = p;
    return PT_OK;

fail:
    chat_pusher_destroy(p);
    *out = NULL;
    return rc;
}

void chat_pusher_destroy(chat_pusher_t *p)
{
    if (!p)
        return;
    for (int i = 0; p->slots && i < p->max_inflight; i++) {
        slot_t *s = &p->slots[i];
        if (s->payload) {
            curl_multi_remove_handle(p->multi, s->easy);
            chat_payload_unref(s->payload);
        }
        curl_slist_free_all(s->hdrs);
        if (s->easy)
            curl_easy_cleanup(s->easy);
    }
    if (p->multi)
        curl_multi_cleanup(p->multi);
    chat_pusher_reap(p);
    while (p->live) { /* sockets libcurl closed without telling (none expected) */
        sock_t *s = p->live;
        p->live = s->next;
        free(s);
    }
    sigv4_cache_clear(&p->cache);
    free(p->slots);
    free(p->akid);
    if (p->secret) {
        memset(p->secret, 0, strlen(p->secret));
        free(p->secret);
    }
    free(p->token);
    free(p->region);
    free(p->port_file);
    free(p->port_host);
    free(p);
}
