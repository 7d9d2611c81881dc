/* status.c: the live status page's data: a once-a-second sampler and a server-sent-events feed. */
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>

/*
 * Once a second the admin loop sums every worker's counters per slot (gw_m_sum) into a ring of
 * snapshots. Rates are differences over the last RATE_WINDOW seconds, integration latencies over
 * the last LAT_WINDOW seconds, and the open-connection count is kept for HISTORY seconds for the
 * chart. The same JSON document answers GET /api/status and is pushed to every subscriber of
 * GET /api/events (text/event-stream), which the page reads with EventSource: no polling, no
 * library, nothing from outside the gateway.
 *
 * A subscriber is an HTTP connection parked on the admin loop (so a client that goes away is
 * noticed and dropped like any parked request); each push unparks it, queues the event and
 * parks it again under a new token. A subscriber that does not read is closed once its unsent
 * output passes SUB_MAX_BYTES.
 */

#define HISTORY       300 /* seconds of connection counts on the chart */
#define RING          61  /* one-second snapshots: a minute of differences */
#define RATE_WINDOW   10
#define LAT_WINDOW    60
#define MAX_SUBS      64
#define SUB_MAX_BYTES (1024 * 1024)
#define TOP_ROUTES    20
#define TOP_SLOW      10

typedef struct snap {
    uint64_t msg_in, msg_out, client, integ, exec, connect;
    gw_hist_snap_t lat;
} snap_t;

typedef struct gw_status {
    int64_t next_ms;
    int64_t hist_t[HISTORY];
    uint64_t hist_v[HISTORY];
    size_t hist_n; /* samples kept (<= HISTORY); the newest is at (hist_pos - 1) */
    size_t hist_pos;
    snap_t *snaps; /* RING * nslots */
    int64_t snap_t[RING];
    size_t snap_n, snap_pos;
    uint64_t registry;
    bool have_registry;
    uint64_t *subs; /* park tokens */
    size_t nsubs;
    buf_t doc; /* the last document, pushed to subscribers */
} gw_status_t;

int gw_status_init(gw_ops_t *ops)
{
    gw_status_t *s = pt_xcalloc(1, sizeof *s);
    s->snaps = pt_xcalloc(RING * (ops->nslots ? ops->nslots : 1), sizeof *s->snaps);
    s->subs = pt_xcalloc(MAX_SUBS, sizeof *s->subs);
    ops->status = s;
    return PT_OK;
}

void gw_status_free(gw_ops_t *ops)
{
    gw_status_t *s = ops->status;
    if (!s)
        return;
    free(s->snaps);
    free(s->subs);
    buf_free(&s->doc);
    free(s);
    ops->status = NULL;
}

int64_t gw_status_next_ms(const gw_ops_t *ops)
{
    return ops->status ? ops->status->next_ms : INT64_MAX;
}

/* Snapshot i steps back from the newest (0 = newest); NULL when not kept. */
static snap_t *snap_at(gw_ops_t *ops, size_t back, int64_t *t)
{
    gw_status_t *s = ops->status;
    if (back >= s->snap_n)
        return NULL;
    size_t idx = (s->snap_pos + RING - 1 - back) % RING;
    *t = s->snap_t[idx];
    return &s->snaps[idx * ops->nslots];
}

static void take_snapshot(gw_ops_t *ops, int64_t now)
{
    gw_status_t *s = ops->status;
    snap_t *row = &s->snaps[s->snap_pos * ops->nslots];
    for (size_t k = 0; k < ops->nslots; k++) {
        gw_msum_t m;
        memset(&m, 0, sizeof m);
        gw_m_sum(ops, k, &m);
        /* An HTTP API's requests and error answers count as its route's messages and
         * errors on the page. */
        row[k].msg_in = m.msg_in + m.http_count;
        row[k].msg_out = m.msg_out;
        row[k].client = m.client_err + m.http_4xx;
        row[k].integ = m.integ_err;
        row[k].exec = m.exec_err + m.http_5xx;
        row[k].connect = m.connect;
        row[k].lat = m.integ_lat;
    }
    s->snap_t[s->snap_pos] = now;
    s->snap_pos = (s->snap_pos + 1) % RING;
    if (s->snap_n < RING)
        s->snap_n++;
}

/* ---- the document ---------------------------------------------------------------------------- */

typedef struct route_row {
    size_t slot;
    uint64_t msgs, errs;
    double msg_rate, err_rate;
} route_row_t;

typedef struct slow_row {
    size_t slot;
    uint64_t calls;
    double avg_ms, p95_ms;
} slow_row_t;

static int by_rate(const void *a, const void *b)
{
    const route_row_t *x = a, *y = b;
    if (x->msg_rate != y->msg_rate)
        return x->msg_rate < y->msg_rate ? 1 : -1;
    if (x->msgs != y->msgs)
        return x->msgs < y->msgs ? 1 : -1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int by_p95(const void *a, const void *b)
{
    const slow_row_t *x = a, *y = b;
    if (x->p95_ms != y->p95_ms)
        return x->p95_ms < y->p95_ms ? 1 : -1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static void str(buf_t *b, const char *k, const char *v, bool comma)
{
    buf_printf(b, "%s\"%s\":", comma ? "," : "", k);
    if (v)
        buf_json_str(b, v, strlen(v));
    else
        buf_puts(b, "null");
}

static void where(buf_t *b, const gw_ops_t *ops, size_t slot)
{
    str(b, "apiId", ops->slot_api[slot]->id, false);
    str(b, "stage", ops->slot_stage[slot]->name, true);
    str(b, "route", ops->slot_route[slot] ? ops->slot_route[slot]->key : NULL, true);
}

void gw_status_json(gw_ops_t *ops, buf_t *out)
{
    gw_status_t *s = ops->status;
    gw_server_t *srv = ops->srv;
    int64_t now = time_now_ms(), t_now = 0, t_rate = 0, t_lat = 0;
    snap_t *cur = snap_at(ops, 0, &t_now);
    size_t rb = s->snap_n > RATE_WINDOW ? RATE_WINDOW : (s->snap_n ? s->snap_n - 1 : 0);
    snap_t *rate = snap_at(ops, rb, &t_rate);
    /* Latency: the last minute; in the first minute, everything since the start. */
    snap_t *lat = s->snap_n > LAT_WINDOW ? snap_at(ops, LAT_WINDOW, &t_lat) : NULL;
    double dt = cur && rate && t_now > t_rate ? (double)(t_now - t_rate) / 1000.0 : 0;

    buf_printf(out,
               "{\"version\":\"%s\",\"node\":%u,\"workers\":%d,\"now\":%lld,"
               "\"uptimeSeconds\":%lld,\"connections\":%llu,\"registry\":",
               PORTICO_VERSION, (unsigned)srv->node, srv->nworkers, (long long)now,
               (long long)((now - srv->started_ms) / 1000),
               (unsigned long long)gw_m_open_total(ops));
    if (s->have_registry)
        buf_printf(out, "%llu", (unsigned long long)s->registry);
    else
        buf_puts(out, "null");
    buf_puts(out, ",\"history\":[");
    for (size_t i = 0; i < s->hist_n; i++) {
        size_t idx = (s->hist_pos + HISTORY - s->hist_n + i) % HISTORY;
        buf_printf(out, "%s[%lld,%llu]", i ? "," : "", (long long)s->hist_t[idx],
                   (unsigned long long)s->hist_v[idx]);
    }
    buf_puts(out, "]");

    snap_t tot, old;
    memset(&tot, 0, sizeof tot);
    memset(&old, 0, sizeof old);
    route_row_t *rows = pt_xcalloc(ops->nslots ? ops->nslots : 1, sizeof *rows);
    slow_row_t *slow = pt_xcalloc(ops->nslots ? ops->nslots : 1, sizeof *slow);
    size_t nrows = 0, nslow = 0;
    for (size_t k = 0; cur && k < ops->nslots; k++) {
        const snap_t *c = &cur[k], *r = rate ? &rate[k] : NULL;
        tot.msg_in += c->msg_in;
        tot.msg_out += c->msg_out;
        tot.client += c->client;
        tot.integ += c->integ;
        tot.exec += c->exec;
        tot.connect += c->connect;
        if (r) {
            old.msg_in += r->msg_in;
            old.msg_out += r->msg_out;
            old.client += r->client;
            old.integ += r->integ;
            old.exec += r->exec;
            old.connect += r->connect;
        }
        uint64_t errs = c->client + c->integ + c->exec;
        if (c->msg_in || errs) {
            route_row_t *row = &rows[nrows++];
            row->slot = k;
            row->msgs = c->msg_in;
            row->errs = errs;
            if (dt > 0 && r) {
                row->msg_rate = (double)(c->msg_in - r->msg_in) / dt;
                row->err_rate = (double)(errs - (r->client + r->integ + r->exec)) / dt;
            }
        }
        gw_hist_snap_t d = c->lat;
        if (lat) {
            for (size_t i = 0; i < GW_HIST_N; i++)
                d.b[i] -= lat[k].lat.b[i];
            d.sum_us -= lat[k].lat.sum_us;
        }
        uint64_t calls = gw_hist_count(&d);
        if (calls && ops->slot_route[k]) {
            slow_row_t *sr = &slow[nslow++];
            sr->slot = k;
            sr->calls = calls;
            sr->avg_ms = (double)d.sum_us / (double)calls / 1000.0;
            sr->p95_ms = gw_hist_quantile(&d, gw_hist_latency_us, 0.95) / 1000.0;
        }
    }
#define RATE(f) (dt > 0 ? (double)(tot.f - old.f) / dt : 0.0)
    buf_printf(out,
               ",\"totals\":{\"connects\":%llu,\"messagesIn\":%llu,\"messagesOut\":%llu,"
               "\"clientErrors\":%llu,\"integrationErrors\":%llu,\"executionErrors\":%llu}",
               (unsigned long long)tot.connect, (unsigned long long)tot.msg_in,
               (unsigned long long)tot.msg_out, (unsigned long long)tot.client,
               (unsigned long long)tot.integ, (unsigned long long)tot.exec);
    buf_printf(out,
               ",\"rates\":{\"window\":%.1f,\"connects\":%.3f,\"messagesIn\":%.3f,"
               "\"messagesOut\":%.3f,\"clientErrors\":%.3f,\"integrationErrors\":%.3f,"
               "\"executionErrors\":%.3f}",
               dt, RATE(connect), RATE(msg_in), RATE(msg_out), RATE(client), RATE(integ),
               RATE(exec));
#undef RATE
    qsort(rows, nrows, sizeof *rows, by_rate);
    buf_puts(out, ",\"routes\":[");
    for (size_t i = 0; i < nrows && i < TOP_ROUTES; i++) {
        buf_printf(out, "%s{", i ? "," : "");
        where(out, ops, rows[i].slot);
        buf_printf(out, ",\"messages\":%llu,\"errors\":%llu,\"msgRate\":%.3f,\"errRate\":%.3f}",
                   (unsigned long long)rows[i].msgs, (unsigned long long)rows[i].errs,
                   rows[i].msg_rate, rows[i].err_rate);
    }
    qsort(slow, nslow, sizeof *slow, by_p95);
    buf_printf(out, "],\"latencyWindow\":%d,\"slowest\":[",
               s->snap_n > LAT_WINDOW ? LAT_WINDOW : 0);
    for (size_t i = 0; i < nslow && i < TOP_SLOW; i++) {
        const route_route_t *r = ops->slot_route[slow[i].slot];
        buf_printf(out, "%s{", i ? "," : "");
        where(out, ops, slow[i].slot);
        str(out, "integration", r->integration ? r->integration->id : NULL, true);
        buf_printf(out, ",\"calls\":%llu,\"avgMs\":%.1f,\"p95Ms\":%.1f}",
                   (unsigned long long)slow[i].calls, slow[i].avg_ms, slow[i].p95_ms);
    }
    buf_puts(out, "]}");
    free(rows);
    free(slow);
}

/* ---- the feed
 * ------------------------------------------------------------------------------------ */

static void push(gw_conn_t *c, const buf_t *doc)
{
    gw_conn_send(c, "data: ", 6, false);
    gw_conn_send(c, doc->p, doc->len, false);
    gw_conn_send(c, "\n\n", 2, false);
}

void gw_status_sample(gw_worker_t *w, int64_t now_ms)
{
    gw_ops_t *ops = w->srv->ops;
    gw_status_t *s = ops->status;
    /* Keep the beat: the next sample is due one second after this one was due, unless the loop
     * fell more than a second behind. */
    s->next_ms = s->next_ms && now_ms - s->next_ms < 1000 ? s->next_ms + 1000 : now_ms + 1000;
    int64_t wall = time_now_ms();
    take_snapshot(ops, wall);
    s->hist_t[s->hist_pos] = wall;
    s->hist_v[s->hist_pos] = gw_m_open_total(ops);
    s->hist_pos = (s->hist_pos + 1) % HISTORY;
    if (s->hist_n < HISTORY)
        s->hist_n++;
    s->have_registry = store_conn_count(w->srv->store, &s->registry) == PT_OK;
    if (s->nsubs == 0)
        return;
    buf_reset(&s->doc);
    gw_status_json(ops, &s->doc);
    size_t k = 0;
    for (size_t i = 0; i < s->nsubs; i++) {
        gw_conn_t *c = gw_unpark(w, s->subs[i]);
        if (!c || c->fd < 0)
            continue; /* gone: the client closed */
        if (c->out_bytes > SUB_MAX_BYTES) {
            gw_conn_close(c); /* not reading: do not buffer without bound */
            continue;
        }
        push(c, &s->doc);
        s->subs[k++] = gw_park(c);
        gw_conn_set_events(c);
    }
    s->nsubs = k;
}

void gw_status_subscribe(gw_conn_t *c)
{
    gw_ops_t *ops = c->w->srv->ops;
    gw_status_t *s = ops->status;
    if (s->nsubs >= MAX_SUBS) {
        static const char body[] = "{\"message\":\"Too many live status feeds\"}";
        gw_http_respond(c, 503, "application/json", NULL, body, sizeof body - 1);
        gw_http_done(c);
        return;
    }
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                               "Connection: close\r\n\r\nretry: 2000\n\n";
    gw_conn_send(c, head, sizeof head - 1, false);
    c->keep_alive = false;
    buf_t doc = BUF_INIT;
    gw_status_json(ops, &doc);
    push(c, &doc);
    buf_free(&doc);
    /* The request head stays owned by the connection until it closes (conn_free). */
    s->subs[s->nsubs++] = gw_park(c);
    gw_conn_set_events(c);
}

void gw_status_close_all(gw_worker_t *w)
{
    gw_ops_t *ops = w->srv->ops;
    gw_status_t *s = ops->status;
    for (size_t i = 0; i < s->nsubs; i++) {
        gw_conn_t *c = gw_unpark(w, s->subs[i]);
        if (c && c->fd >= 0)
            gw_conn_close(c);
    }
    s->nsubs = 0;
}
