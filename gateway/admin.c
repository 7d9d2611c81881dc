/* admin.c: the admin port: health, metrics, stats, the connections API and the status page's files.
 */
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/*
 * Endpoints (docs/operations.md#admin-api):
 *
 *   GET  /health, /ready                 no token needed (probes)
 *   GET  /metrics                        Prometheus text exposition
 *   GET  /stats                          JSON summary
 *   GET  /connections?api=&stage=&minAge=&maxAge=&limit=&cursor=   from the LMDB registry
 *   GET  /connections/count?api=&stage=&minAge=&maxAge=
 *   GET  /connections/{id}
 *   DELETE /connections/{id}             as DELETE @connections: close 1000, $disconnect 1000
 *   GET  /                               the status page; /ui/... its files (no token needed)
 *   GET  /api/status, /api/events        the page's data: JSON, and a server-sent-events feed
 *
 * Everything runs on the admin loop's thread. Registry reads are short LMDB read transactions;
 * a listing scans at most SCAN_MAX records per page, so a filter that matches little cannot
 * hold the loop: the page then comes back short, with a cursor to go on.
 */

#define LIST_DEFAULT 100
#define LIST_MAX     1000
#define SCAN_MAX     10000

static const char SEC_HEADERS[] = "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n";
static const char CSP[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\n";

static void reply(gw_conn_t *c, int status, const char *type, const char *extra, const char *body,
                  size_t len)
{
    buf_t h = BUF_INIT;
    buf_puts(&h, SEC_HEADERS);
    if (extra)
        buf_puts(&h, extra);
    gw_http_respond(c, status, type, h.p, body, len);
    buf_free(&h);
    gw_http_done(c);
}

static void json(gw_conn_t *c, int status, const char *body)
{
    reply(c, status, "application/json", NULL, body, strlen(body));
}

static void json_buf(gw_conn_t *c, int status, const buf_t *b)
{
    reply(c, status, "application/json", NULL, b->p ? b->p : "", b->len);
}

static void message(gw_conn_t *c, int status, const char *extra, const char *msg)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"message\":");
    buf_json_str(&b, msg, strlen(msg));
    buf_putc(&b, '}');
    reply(c, status, "application/json", extra, b.p, b.len);
    buf_free(&b);
}

static bool path_is(const http_request_t *r, const char *p)
{
    size_t n = strlen(p);
    return r->path_len == n && memcmp(r->path, p, n) == 0;
}

/* A query parameter, percent-decoded ('+' as space) into out. */
static bool qparam(const http_request_t *r, const char *name, char *out, size_t n)
{
    size_t pos = 0, kl, vl;
    const char *k, *v;
    while (r->query && http_query_next(r->query, r->query_len, &pos, &k, &kl, &v, &vl)) {
        if (kl != strlen(name) || memcmp(k, name, kl) != 0)
            continue;
        if (vl + 1 > n)
            return false;
        return http_pct_decode(v, vl, out, true) >= 0;
    }
    return false;
}

/* ---- authorization --------------------------------------------------------------------------- */

static bool token_eq(const char *want, const char *got, size_t n)
{
    return strlen(want) == n && sodium_memcmp(want, got, n) == 0;
}

/* Bearer header, or the cookie the status page was given. */
static bool authorized(const gw_conn_t *c, const char *token)
{
    if (!token)
        return true;
    const http_request_t *r = c->req;
    const http_header_t *a = http_find_header(r, "authorization");
    if (a && a->value_len > 7 && strncasecmp(a->value, "Bearer ", 7) == 0) {
        const char *v = a->value + 7;
        size_t n = a->value_len - 7;
        while (n && *v == ' ') {
            v++;
            n--;
        }
        return token_eq(token, v, n);
    }
    for (size_t i = 0; i < r->nheaders; i++) {
        const http_header_t *h = &r->headers[i];
        if (!http_ieq(h->name, h->name_len, "cookie"))
            continue;
        const char *p = h->value, *end = h->value + h->value_len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *e = memchr(p, ';', (size_t)(end - p));
            e = e ? e : end;
            if ((size_t)(e - p) > 14 && memcmp(p, "portico_admin=", 14) == 0 &&
                token_eq(token, p + 14, (size_t)(e - p - 14)))
                return true;
            p = e;
        }
    }
    return false;
}

/* ---- connections ----------------------------------------------------------------------------- */

bool gw_conn_match(const store_conn_t *r, const gw_conn_filter_t *f, int64_t now_ms)
{
    if (f->api_id && (!r->api_id || strcmp(f->api_id, r->api_id) != 0))
        return false;
    if (f->stage && (!r->stage || strcmp(f->stage, r->stage) != 0))
        return false;
    int64_t age = (now_ms - r->connected_at_ms) / 1000;
    if (f->min_age_s >= 0 && age < f->min_age_s)
        return false;
    if (f->max_age_s >= 0 && age > f->max_age_s)
        return false;
    return true;
}

static void json_kv_str(buf_t *out, const char *k, const char *v, bool comma)
{
    buf_printf(out, "%s\"%s\":", comma ? "," : "", k);
    if (v)
        buf_json_str(out, v, strlen(v));
    else
        buf_puts(out, "null");
}

void gw_conn_json(const store_conn_t *r, int64_t now_ms, buf_t *out)
{
    char ca[32], la[32];
    time_iso_ms(r->connected_at_ms, ca);
    time_iso_ms(r->last_active_at_ms, la);
    buf_putc(out, '{');
    json_kv_str(out, "connectionId", r->id, false);
    json_kv_str(out, "apiId", r->api_id, true);
    json_kv_str(out, "stage", r->stage, true);
    json_kv_str(out, "connectedAt", ca, true);
    json_kv_str(out, "lastActiveAt", la, true);
    int64_t age = now_ms - r->connected_at_ms, idle = now_ms - r->last_active_at_ms;
    buf_printf(out, ",\"ageSeconds\":%lld,\"idleSeconds\":%lld",
               (long long)(age > 0 ? age / 1000 : 0), (long long)(idle > 0 ? idle / 1000 : 0));
    json_kv_str(out, "sourceIp", r->source_ip, true);
    json_kv_str(out, "userAgent", r->user_agent, true);
    json_kv_str(out, "domainName", r->domain_name, true);
    buf_printf(out, ",\"node\":%u,\"worker\":%u}", (unsigned)r->node, (unsigned)r->worker);
}

typedef struct list_walk {
    gw_conn_filter_t f;
    int64_t now;
    buf_t *out;
    size_t limit, matched, scanned;
    char cursor[STORE_ID_LEN + 1];
    bool more;
    bool count_only;
} list_walk_t;

static int on_record(void *ctx, const store_conn_t *rec)
{
    list_walk_t *lw = ctx;
    bool m = gw_conn_match(rec, &lw->f, lw->now);
    if (lw->count_only) {
        lw->matched += m;
        return 0;
    }
    if (m && lw->matched == lw->limit) {
        lw->more = true; /* not taken: the next page starts with it */
        return 1;
    }
    if (m) {
        if (lw->matched)
            buf_putc(lw->out, ',');
        gw_conn_json(rec, lw->now, lw->out);
        lw->matched++;
    }
    snprintf(lw->cursor, sizeof lw->cursor, "%s", rec->id);
    if (++lw->scanned >= SCAN_MAX) {
        lw->more = true;
        return 1;
    }
    return 0;
}

/* Reads filters; false (and answers 400) on a malformed one. Strings live in bufs. */
static bool read_filter(gw_conn_t *c, gw_conn_filter_t *f, char api[128], char stage[256])
{
    char v[32];
    f->api_id = qparam(c->req, "api", api, 128) && *api ? api : NULL;
    f->stage = qparam(c->req, "stage", stage, 256) && *stage ? stage : NULL;
    f->min_age_s = f->max_age_s = -1;
    const char *names[2] = {"minAge", "maxAge"};
    int64_t *dst[2] = {&f->min_age_s, &f->max_age_s};
    for (int i = 0; i < 2; i++) {
        if (!qparam(c->req, names[i], v, sizeof v))
            continue;
        uint64_t n;
        if (http_parse_u64(v, strlen(v), &n) != PT_OK || n > (uint64_t)INT64_MAX / 1000) {
            char m[96];
            snprintf(m, sizeof m, "%s must be a whole number of seconds", names[i]);
            message(c, 400, NULL, m);
            return false;
        }
        *dst[i] = (int64_t)n;
    }
    return true;
}

static void list_connections(gw_conn_t *c, bool count)
{
    gw_server_t *srv = c->w->srv;
    list_walk_t lw;
    memset(&lw, 0, sizeof lw);
    char api[128], stage[256], v[64];
    if (!read_filter(c, &lw.f, api, stage))
        return;
    lw.now = time_now_ms();
    buf_t out = BUF_INIT;
    lw.out = &out;
    if (count) {
        uint64_t n = 0;
        int rc;
        if (!lw.f.api_id && !lw.f.stage && lw.f.min_age_s < 0 && lw.f.max_age_s < 0) {
            rc = store_conn_count(srv->store, &n);
        } else {
            lw.count_only = true;
            rc = store_conn_iter(srv->store, NULL, 0, on_record, &lw);
            n = lw.matched;
        }
        if (rc != PT_OK) {
            message(c, 500, NULL, "cannot read the registry");
            return;
        }
        buf_printf(&out, "{\"count\":%llu}", (unsigned long long)n);
        json_buf(c, 200, &out);
        buf_free(&out);
        return;
    }
    lw.limit = LIST_DEFAULT;
    if (qparam(c->req, "limit", v, sizeof v)) {
        uint64_t n;
        if (http_parse_u64(v, strlen(v), &n) != PT_OK || n < 1 || n > LIST_MAX) {
            message(c, 400, NULL, "limit must be 1 to 1000");
            return;
        }
        lw.limit = (size_t)n;
    }
    char after[64] = "";
    if (qparam(c->req, "cursor", after, sizeof after) && strlen(after) > STORE_ID_LEN) {
        message(c, 400, NULL, "malformed cursor");
        return;
    }
    buf_puts(&out, "{\"items\":[");
    int rc = store_conn_iter(srv->store, after, 0, on_record, &lw);
    if (rc != PT_OK) {
        buf_free(&out);
        message(c, 500, NULL, "cannot read the registry");
        return;
    }
    buf_printf(&out, "],\"count\":%zu,\"nextCursor\":", lw.matched);
    if (lw.more)
        buf_json_str(&out, lw.cursor, strlen(lw.cursor));
    else
        buf_puts(&out, "null");
    buf_putc(&out, '}');
    json_buf(c, 200, &out);
    buf_free(&out);
}

/* "/connections/{id}" -> the decoded id in out; false when the path is something else. */
static bool connection_id(const http_request_t *r, char out[64])
{
    static const char pre[] = "/connections/";
    size_t n = sizeof pre - 1;
    if (r->path_len <= n || memcmp(r->path, pre, n) != 0 || r->path_len - n > 48)
        return false;
    if (memchr(r->path + n, '/', r->path_len - n))
        return false;
    return http_pct_decode(r->path + n, r->path_len - n, out, false) >= 0;
}

static void get_connection(gw_conn_t *c, const char *id)
{
    store_conn_t rec;
    int rc = store_conn_get(c->w->srv->store, id, &rec);
    if (rc == PT_ENOTFOUND) {
        message(c, 404, NULL, "No such connection");
        return;
    }
    if (rc != PT_OK) {
        message(c, 500, NULL, "cannot read the registry");
        return;
    }
    buf_t out = BUF_INIT;
    gw_conn_json(&rec, time_now_ms(), &out);
    store_conn_clear(&rec);
    json_buf(c, 200, &out);
    buf_free(&out);
}

/* Same effect as DELETE @connections: the owner worker closes it (1000) and $disconnect gets
 * 1000 "Connection Closed Normally"; the answer comes back through gw_admin_on_reply. */
static void kick_connection(gw_conn_t *c, const char *id)
{
    gw_worker_t *w = c->w;
    gw_server_t *srv = w->srv;
    uint8_t node, worker;
    if (!id_conn_owner(id, strlen(id), &node, &worker) || node != srv->node ||
        worker >= srv->nworkers) {
        message(c, 404, NULL, "No such connection");
        return;
    }
    gw_cb_msg_t *m = pt_xcalloc(1, sizeof *m);
    m->msg.type = GW_MSG_CB_REQ;
    m->op = GW_CB_DELETE;
    memcpy(m->id, id, ID_LEN);
    m->reply_worker = w->index;
    m->reply_token = gw_park(c);
    gw_conn_set_events(c);
    if (!gw_worker_post(&srv->workers[worker], &m->msg)) {
        gw_unpark(w, m->reply_token);
        free(m);
        c->state = GW_CS_HEAD;
        message(c, 503, NULL, "The gateway is stopping");
    }
}

void gw_admin_on_reply(gw_worker_t *w, gw_cb_msg_t *m)
{
    gw_conn_t *c = gw_unpark(w, m->reply_token);
    if (c && c->fd >= 0) {
        c->state = GW_CS_HEAD; /* back from PARKED */
        if (m->status == 204) {
            buf_t b = BUF_INIT;
            buf_puts(&b, "{\"connectionId\":");
            buf_json_str(&b, m->id, strlen(m->id));
            buf_puts(&b, ",\"closed\":true}");
            json_buf(c, 200, &b);
            buf_free(&b);
        } else {
            message(c, 404, NULL, "No such connection");
        }
    }
    free(m->data);
    free(m);
}

/* ---- static files
 * --------------------------------------------------------------------------------- */

static const gw_asset_t *asset(const char *path, size_t n)
{
    for (size_t i = 0; i < gw_admin_nassets; i++)
        if (strlen(gw_admin_assets[i].path) == n && memcmp(gw_admin_assets[i].path, path, n) == 0)
            return &gw_admin_assets[i];
    return NULL;
}

static void serve_asset(gw_conn_t *c, const gw_asset_t *a)
{
    reply(c, 200, a->type, CSP, (const char *)a->data, a->len);
}

/* GET /?token=T: checks the token, keeps it in a cookie and sends the browser to "/" without it
 * (so it does not stay in the address bar or the history). */
static bool token_login(gw_conn_t *c, const char *token)
{
    char got[300];
    if (!token || !qparam(c->req, "token", got, sizeof got))
        return false;
    if (!token_eq(token, got, strlen(got))) {
        message(c, 401, "WWW-Authenticate: Bearer realm=\"portico\"\r\n", "Unauthorized");
        return true;
    }
    buf_t h = BUF_INIT;
    buf_printf(&h,
               "Location: /\r\nSet-Cookie: portico_admin=%s; Path=/; HttpOnly; "
               "SameSite=Strict\r\n",
               got);
    reply(c, 303, "text/plain", h.p, "", 0);
    buf_free(&h);
    return true;
}

/* ---- the router
 * ------------------------------------------------------------------------------------- */

void gw_admin_request(gw_conn_t *c)
{
    const http_request_t *r = c->req;
    gw_server_t *srv = c->w->srv;
    const char *token = srv->cfg->server.admin_token;
    bool get =
        http_ieq(r->method, r->method_len, "GET") || http_ieq(r->method, r->method_len, "HEAD");
    bool del = http_ieq(r->method, r->method_len, "DELETE");
    char id[64];

    /* Probes need no token: they tell nothing an attacker could use. */
    if (get && path_is(r, "/health")) {
        json(c, 200, "{\"status\":\"ok\"}");
        return;
    }
    if (get && path_is(r, "/ready")) {
        if (atomic_load(&srv->stopping))
            json(c, 503, "{\"status\":\"stopping\"}");
        else
            json(c, 200, "{\"status\":\"ready\"}");
        return;
    }
    const gw_asset_t *a =
        r->path_len > 4 && memcmp(r->path, "/ui/", 4) == 0 ? asset(r->path, r->path_len) : NULL;
    if (get && a) {
        serve_asset(c, a); /* the page's code and style: public */
        return;
    }
    if (get && path_is(r, "/") && token_login(c, token))
        return;
    if (!authorized(c, token)) {
        if (get && path_is(r, "/")) {
            static const char page[] =
                "<!doctype html><title>Portico</title><p>This gateway's admin port wants a "
                "token: open <code>/?token=TOKEN</code> (server.adminToken).</p>\n";
            reply(c, 401, "text/html; charset=utf-8", CSP, page, sizeof page - 1);
        } else {
            message(c, 401, "WWW-Authenticate: Bearer realm=\"portico\"\r\n", "Unauthorized");
        }
        return;
    }
    if (get && path_is(r, "/")) {
        a = asset("/ui/index.html", 14);
        if (a) {
            serve_asset(c, a);
            return;
        }
    }
    if (get && path_is(r, "/metrics")) {
        buf_t b = BUF_INIT;
        gw_metrics_render(srv, &b);
        reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.p, b.len);
        buf_free(&b);
        return;
    }
    if (get && path_is(r, "/stats")) {
        buf_t b = BUF_INIT;
        gw_stats_render(srv, &b);
        json_buf(c, 200, &b);
        buf_free(&b);
        return;
    }
    if (get && path_is(r, "/api/status")) {
        buf_t b = BUF_INIT;
        gw_status_json(srv->ops, &b);
        json_buf(c, 200, &b);
        buf_free(&b);
        return;
    }
    if (get && path_is(r, "/api/events")) {
        gw_status_subscribe(c);
        return;
    }
    if (get && path_is(r, "/connections")) {
        list_connections(c, false);
        return;
    }
    if (get && path_is(r, "/connections/count")) {
        list_connections(c, true);
        return;
    }
    if ((get || del) && connection_id(r, id)) {
        if (get)
            get_connection(c, id);
        else
            kick_connection(c, id);
        return;
    }
    bool known = path_is(r, "/metrics") || path_is(r, "/stats") || path_is(r, "/connections") ||
                 path_is(r, "/") || path_is(r, "/health") || path_is(r, "/ready") ||
                 connection_id(r, id);
    if (known) {
        message(c, 405,
                connection_id(r, id) ? "Allow: GET, HEAD, DELETE\r\n" : "Allow: GET, HEAD\r\n",
                "Method Not Allowed");
        return;
    }
    message(c, 404, NULL, "Not Found");
}

/* ---- the admin loop's turn
 * ---------------------------------------------------------------------------- */

void gw_admin_tick(gw_worker_t *w, int64_t now_ms)
{
    gw_ops_t *ops = w->srv->ops;
    if (!ops)
        return;
    if (w->stopping) {
        gw_status_close_all(w); /* live feeds would hold the shutdown for its whole grace */
        return;
    }
    if (now_ms >= gw_status_next_ms(ops))
        gw_status_sample(w, now_ms);
    gw_outbox_maintain(w->srv, now_ms);
}

int gw_admin_timeout(gw_worker_t *w, int64_t now_ms, int timeout)
{
    gw_ops_t *ops = w->srv->ops;
    if (!ops)
        return timeout;
    int64_t t = gw_status_next_ms(ops) - now_ms;
    if (t < 0)
        t = 0;
    return t < timeout ? (int)t : timeout;
}
