/* metrics.c: per-worker counters named after API Gateway's CloudWatch metrics, summed on scrape. */
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/*
 * Series. API Gateway reports its metrics per (ApiId), (ApiId, Stage) and, for routes with
 * detailedMetricsEnabled, (ApiId, Stage, Route) (spec 10.1). Here every stage has one block of
 * counters for events that belong to no route, and one block per route; events are always
 * counted in the route's block, because the status page shows every route. /metrics reports a
 * route's block as its own series (label route="KEY") only where detailedMetricsEnabled; the
 * blocks of other routes are added into the stage's series (no route label). So every event is
 * in exactly one series and `sum by (api_id, stage)` is the stage's exact total, with or
 * without detailed routes.
 *
 * Slots are indexed by pointer arithmetic on the config's arrays (api - cfg->apis, stage -
 * api->stages, route - api->routes): the config never changes while the process runs.
 */

/* ---- set-up ---------------------------------------------------------------------------------- */

/* detailedMetricsEnabled of a route in a stage: its routeSettings entry or the default. */
static bool detailed(const route_stage_t *st, const route_route_t *r)
{
    if (st->default_route_settings.detailed_metrics_enabled)
        return true;
    const char *idx = route_map_get(&st->route_settings_keys, r->key);
    if (!idx)
        return false;
    size_t i = (size_t)strtoul(idx, NULL, 10);
    return i < st->nroute_settings && st->route_settings[i].detailed_metrics_enabled;
}

static void *xalloc_aligned(size_t n)
{
    void *p = NULL;
    /* Each worker's blocks start on their own cache line: no false sharing between workers. */
    if (posix_memalign(&p, 64, n ? n : 64) != 0)
        abort();
    memset(p, 0, n ? n : 64);
    return p;
}

int gw_ops_init(gw_server_t *srv, buf_t *err)
{
    const route_config_t *cfg = srv->cfg;
    gw_ops_t *ops = pt_xcalloc(1, sizeof *ops);
    srv->ops = ops;
    ops->srv = srv;
    ops->alog_efd = -1;
    ops->api_stage_base = pt_xcalloc(cfg->napis + 1, sizeof *ops->api_stage_base);
    for (size_t a = 0; a < cfg->napis; a++) {
        ops->api_stage_base[a] = ops->nstages;
        ops->nstages += cfg->apis[a].nstages;
    }
    ops->stage_slot_base = pt_xcalloc(ops->nstages + 1, sizeof *ops->stage_slot_base);
    size_t gs = 0;
    for (size_t a = 0; a < cfg->napis; a++) {
        for (size_t s = 0; s < cfg->apis[a].nstages; s++, gs++) {
            ops->stage_slot_base[gs] = ops->nslots;
            ops->nslots += 1 + cfg->apis[a].nroutes;
        }
    }
    size_t ns = ops->nslots ? ops->nslots : 1;
    ops->slot_api = pt_xcalloc(ns, sizeof *ops->slot_api);
    ops->slot_stage = pt_xcalloc(ns, sizeof *ops->slot_stage);
    ops->slot_route = pt_xcalloc(ns, sizeof *ops->slot_route);
    ops->slot_detailed = pt_xcalloc(ns, sizeof *ops->slot_detailed);
    size_t k = 0;
    for (size_t a = 0; a < cfg->napis; a++) {
        const route_api_t *api = &cfg->apis[a];
        for (size_t s = 0; s < api->nstages; s++) {
            const route_stage_t *st = &api->stages[s];
            ops->slot_api[k] = api;
            ops->slot_stage[k] = st;
            k++;
            for (size_t r = 0; r < api->nroutes; r++, k++) {
                ops->slot_api[k] = api;
                ops->slot_stage[k] = st;
                ops->slot_route[k] = &api->routes[r];
                ops->slot_detailed[k] = detailed(st, &api->routes[r]);
            }
        }
    }
    ops->nwm = srv->nworkers + 1;
    ops->wm = pt_xcalloc((size_t)ops->nwm, sizeof *ops->wm);
    for (int i = 0; i < ops->nwm; i++)
        ops->wm[i].blocks = xalloc_aligned(ns * sizeof(gw_mblock_t));
    int rc = gw_alog_init(ops, err);
    if (rc == PT_OK)
        rc = gw_status_init(ops);
    if (rc != PT_OK) {
        gw_ops_free(srv);
        return rc;
    }
    return PT_OK;
}

void gw_ops_free(gw_server_t *srv)
{
    gw_ops_t *ops = srv->ops;
    if (!ops)
        return;
    gw_status_free(ops);
    gw_alog_free(ops);
    for (int i = 0; i < ops->nwm; i++) {
        free(ops->wm[i].blocks);
        buf_free(&ops->wm[i].alog_line);
        buf_free(&ops->wm[i].alog_scratch);
    }
    free(ops->wm);
    free(ops->api_stage_base);
    free(ops->stage_slot_base);
    free(ops->slot_api);
    free(ops->slot_stage);
    free(ops->slot_route);
    free(ops->slot_detailed);
    free(ops);
    srv->ops = NULL;
}

gw_wmetrics_t *gw_ops_worker(gw_server_t *srv, int index)
{
    if (!srv->ops || index < 0 || index >= srv->ops->nwm)
        return NULL;
    return &srv->ops->wm[index];
}

size_t gw_ops_stage_index(const gw_ops_t *ops, const route_api_t *api, const route_stage_t *stage)
{
    size_t a = (size_t)(api - ops->srv->cfg->apis);
    return ops->api_stage_base[a] + (size_t)(stage - api->stages);
}

size_t gw_ops_slot(const gw_ops_t *ops, const route_api_t *api, const route_stage_t *stage,
                   const route_route_t *route)
{
    size_t slot = ops->stage_slot_base[gw_ops_stage_index(ops, api, stage)];
    if (route)
        slot += 1 + (size_t)(route - api->routes);
    return slot;
}

/* ---- counting (worker thread) --------------------------------------------------------------- */

static gw_mblock_t *block(gw_worker_t *w, const route_api_t *api, const route_stage_t *stage,
                          const route_route_t *route)
{
    if (!w->m || !api || !stage)
        return NULL;
    return &w->m->blocks[gw_ops_slot(w->srv->ops, api, stage, route)];
}

void gw_m_connect(gw_worker_t *w, const gw_ws_t *ws)
{
    gw_mblock_t *b = block(w, ws->api, ws->stage, ws->api->r_connect);
    if (b)
        gw_ctr_add(&b->connect, 1);
}

void gw_m_open(gw_worker_t *w, const gw_ws_t *ws, bool open)
{
    gw_mblock_t *b = block(w, ws->api, ws->stage, NULL);
    if (!b)
        return;
    /* A connection opens and closes on the same worker, so this worker's open count never
     * goes below zero; the sum over workers is the gauge. */
    if (open)
        gw_ctr_add(&b->open, 1);
    else
        gw_ctr_add(&b->closed, 1);
}

void gw_m_message_in(gw_worker_t *w, const gw_ws_t *ws, const route_route_t *route)
{
    gw_mblock_t *b = block(w, ws->api, ws->stage, route);
    if (b)
        gw_ctr_add(&b->msg_in, 1);
}

void gw_m_message_out(gw_worker_t *w, const gw_ws_t *ws)
{
    gw_mblock_t *b = block(w, ws->api, ws->stage, NULL);
    if (b)
        gw_ctr_add(&b->msg_out, 1);
}

void gw_m_client_error(gw_worker_t *w, const route_api_t *api, const route_stage_t *stage,
                       const route_route_t *route)
{
    gw_mblock_t *b = block(w, api, stage, route);
    if (b)
        gw_ctr_add(&b->client_err, 1);
}

void gw_m_exec_error(gw_worker_t *w, const route_api_t *api, const route_stage_t *stage,
                     const route_route_t *route)
{
    gw_mblock_t *b = block(w, api, stage, route);
    if (b)
        gw_ctr_add(&b->exec_err, 1);
}

void gw_m_drop(gw_worker_t *w, const gw_ws_t *ws)
{
    gw_mblock_t *b = block(w, ws->api, ws->stage, NULL);
    if (b)
        gw_ctr_add(&b->drops, 1);
}

const int gw_mcb_codes[GW_MCB_NCODES - 1] = {200, 204, 400, 403, 404, 410,
                                             411, 413, 429, 431, 500, 503};

void gw_m_cb(gw_worker_t *w, const http_request_t *req, int status)
{
    if (!w->m)
        return;
    int op = GW_MCB_OTHER;
    if (req && http_ieq(req->method, req->method_len, "POST"))
        op = GW_MCB_POST;
    else if (req && http_ieq(req->method, req->method_len, "GET"))
        op = GW_MCB_GET;
    else if (req && http_ieq(req->method, req->method_len, "DELETE"))
        op = GW_MCB_DELETE;
    size_t i = 0;
    while (i < GW_MCB_NCODES - 1 && gw_mcb_codes[i] != status)
        i++;
    gw_ctr_add(&w->m->cb[op][i], 1);
}

void gw_m_loop(gw_worker_t *w, int64_t busy_us)
{
    if (w->m)
        gw_hist_observe(&w->m->loop_lag, gw_hist_lag_us, busy_us);
}

void gw_ops_integ(gw_worker_t *w, const gw_call_t *call, const route_integ_result_t *res)
{
    gw_mblock_t *b = block(w, call->api, call->stage, call->route);
    if (!b)
        return;
    /* IntegrationLatency: sending to the integration until its answer (not for MOCK, which
     * never gets here). A failed call still took that long. */
    if (call->job)
        gw_hist_observe(&b->integ_lat, gw_hist_latency_us, call->job->latency_us);
    if (res->error != PT_OK || res->function_error)
        gw_ctr_add(&b->exec_err, 1);
    else if (res->status >= 400)
        gw_ctr_add(&b->integ_err, 1);
}

void gw_ops_http(gw_worker_t *w, route_ctx_t *ctx, int status, int64_t latency_us,
                 int64_t integ_latency_us, const gw_alog_http_t *http)
{
    gw_mblock_t *b = block(w, ctx->api, ctx->stage, ctx->route);
    if (b) {
        gw_ctr_add(&b->http_count, 1);
        if (status >= 400 && status < 500)
            gw_ctr_add(&b->http_4xx, 1);
        else if (status >= 500)
            gw_ctr_add(&b->http_5xx, 1);
        gw_hist_observe(&b->http_lat, gw_hist_latency_us, latency_us);
        if (integ_latency_us >= 0)
            gw_hist_observe(&b->integ_lat, gw_hist_latency_us, integ_latency_us);
    }
    ctx->status = status;
    gw_alog(w, ctx, http);
}

/* ---- sums (admin thread) --------------------------------------------------------------------- */

static void hist_add(gw_hist_snap_t *dst, const gw_hist_t *h)
{
    for (size_t i = 0; i < GW_HIST_N; i++)
        dst->b[i] += gw_ctr_get(&h->b[i]);
    dst->sum_us += gw_ctr_get(&h->sum_us);
}

void gw_m_sum(const gw_ops_t *ops, size_t slot, gw_msum_t *o)
{
    for (int i = 0; i < ops->nwm; i++) {
        const gw_mblock_t *b = &ops->wm[i].blocks[slot];
        o->open += gw_ctr_get(&b->open);
        o->closed += gw_ctr_get(&b->closed);
        o->connect += gw_ctr_get(&b->connect);
        o->msg_in += gw_ctr_get(&b->msg_in);
        o->msg_out += gw_ctr_get(&b->msg_out);
        o->client_err += gw_ctr_get(&b->client_err);
        o->integ_err += gw_ctr_get(&b->integ_err);
        o->exec_err += gw_ctr_get(&b->exec_err);
        o->drops += gw_ctr_get(&b->drops);
        o->http_count += gw_ctr_get(&b->http_count);
        o->http_4xx += gw_ctr_get(&b->http_4xx);
        o->http_5xx += gw_ctr_get(&b->http_5xx);
        hist_add(&o->integ_lat, &b->integ_lat);
        hist_add(&o->http_lat, &b->http_lat);
    }
}

/* Open connections of a stage slot: opened minus closed. The two counters are read one after
 * the other, so a connection closing in between can make a read one low for a moment, never
 * negative (closed is read first). */
static uint64_t open_of(const gw_msum_t *s)
{
    return s->open >= s->closed ? s->open - s->closed : 0;
}

uint64_t gw_m_open_total(const gw_ops_t *ops)
{
    uint64_t n = 0;
    for (size_t gs = 0; gs < ops->nstages; gs++) {
        size_t slot = ops->stage_slot_base[gs];
        uint64_t closed = 0, open = 0;
        for (int i = 0; i < ops->nwm; i++)
            closed += gw_ctr_get(&ops->wm[i].blocks[slot].closed);
        for (int i = 0; i < ops->nwm; i++)
            open += gw_ctr_get(&ops->wm[i].blocks[slot].open);
        n += open >= closed ? open - closed : 0;
    }
    return n;
}

static void msum_add(gw_msum_t *d, const gw_msum_t *s)
{
    d->open += s->open;
    d->closed += s->closed;
    d->connect += s->connect;
    d->msg_in += s->msg_in;
    d->msg_out += s->msg_out;
    d->client_err += s->client_err;
    d->integ_err += s->integ_err;
    d->exec_err += s->exec_err;
    d->drops += s->drops;
    d->http_count += s->http_count;
    d->http_4xx += s->http_4xx;
    d->http_5xx += s->http_5xx;
    for (size_t i = 0; i < GW_HIST_N; i++) {
        d->integ_lat.b[i] += s->integ_lat.b[i];
        d->http_lat.b[i] += s->http_lat.b[i];
    }
    d->integ_lat.sum_us += s->integ_lat.sum_us;
    d->http_lat.sum_us += s->http_lat.sum_us;
}

/* ---- process figures
 * ----------------------------------------------------------------------------- */

void gw_proc_read(gw_proc_t *p)
{
    p->rss_bytes = p->vsize_bytes = p->open_fds = p->max_fds = p->threads = -1;
    p->cpu_seconds = p->start_time_s = -1;
    long page = sysconf(_SC_PAGESIZE);
    long hz = sysconf(_SC_CLK_TCK);
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            /* Fields after the command name, which may contain spaces: start after ')'. */
            char *q = strrchr(buf, ')');
            unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
            long long rss = 0, threads = 0;
            if (q && sscanf(q + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
                            "%*d %lld %*d %llu %llu %lld",
                            &utime, &stime, &threads, &start, &vsize, &rss) == 6) {
                p->cpu_seconds = (double)(utime + stime) / (double)hz;
                p->vsize_bytes = (int64_t)vsize;
                p->rss_bytes = rss * page;
                p->threads = threads;
                /* starttime is in clock ticks since boot. */
                FILE *f = fopen("/proc/stat", "re");
                if (f) {
                    char line[256];
                    while (fgets(line, sizeof line, f)) {
                        unsigned long long btime;
                        if (sscanf(line, "btime %llu", &btime) == 1) {
                            p->start_time_s = (double)btime + (double)start / (double)hz;
                            break;
                        }
                    }
                    fclose(f);
                }
            }
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int64_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
        p->open_fds = n - 1; /* the directory stream's own descriptor */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        p->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur;
}

/* ---- /metrics -------------------------------------------------------------------------------- */

enum { F_COUNTER, F_HIST };

/* A family: one name, the fields it reads from a sum, and which APIs have it. */
typedef struct family {
    const char *name;
    const char *help;
    int kind;
    size_t off; /* offsetof(gw_msum_t, field) */
    int proto;  /* ROUTE_PROTO_* it applies to, 0 for both */
    const int64_t *bounds;
} family_t;

#define CTR(n, f, p, h)                                                                            \
    {                                                                                              \
        n, h, F_COUNTER, offsetof(gw_msum_t, f), p, NULL                                           \
    }
#define HST(n, f, p, h)                                                                            \
    {                                                                                              \
        n, h, F_HIST, offsetof(gw_msum_t, f), p, gw_hist_latency_us                                \
    }

static const family_t FAMILIES[] = {
    CTR("portico_connect_count_total", connect, ROUTE_PROTO_WEBSOCKET,
        "ConnectCount: upgrade requests that reached the $connect step (sent to the $connect "
        "integration, or accepted without one)."),
    CTR("portico_message_count_total", msg_in, ROUTE_PROTO_WEBSOCKET,
        "MessageCount: WebSocket messages from and to clients (route responses, error frames "
        "and @connections pushes included)."),
    CTR("portico_client_error_total", client_err, ROUTE_PROTO_WEBSOCKET,
        "ClientError: messages and frames the gateway refused before any integration ran (no "
        "route matched, size, binary or UTF-8 violations)."),
    CTR("portico_integration_error_total", integ_err, 0,
        "IntegrationError: integration calls answered with a 4XX or 5XX status."),
    CTR("portico_execution_error_total", exec_err, 0,
        "ExecutionError: integration calls that failed (timeout, unreachable, response too "
        "large, Lambda function error, malformed proxy result, request not buildable)."),
    HST("portico_integration_latency_seconds", integ_lat, 0,
        "IntegrationLatency: from sending the request to the integration to its response (not "
        "for MOCK)."),
    CTR("portico_count_total", http_count, ROUTE_PROTO_HTTP, "Count: HTTP API requests answered."),
    CTR("portico_4xx_error_total", http_4xx, ROUTE_PROTO_HTTP,
        "4XXError: HTTP API requests answered with a 4XX status."),
    CTR("portico_5xx_error_total", http_5xx, ROUTE_PROTO_HTTP,
        "5XXError: HTTP API requests answered with a 5XX status."),
    HST("portico_latency_seconds", http_lat, ROUTE_PROTO_HTTP,
        "Latency: HTTP API requests, from the request head received to the response queued."),
    CTR("portico_outbound_dropped_total", drops, ROUTE_PROTO_WEBSOCKET,
        "Outbound messages refused because the connection's queue was full (the push got 429; "
        "a route response closed the connection with 1008)."),
};

static uint64_t field_u64(const gw_msum_t *s, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)s + off, sizeof v);
    if (off == offsetof(gw_msum_t, msg_in))
        v += s->msg_out; /* MessageCount counts both directions */
    return v;
}

/* Sums per exposed series: for each stage, the stage series (stage slot plus every route
 * without detailed metrics) and one per detailed route. */
typedef struct expo_series {
    const route_api_t *api;
    const route_stage_t *stage;
    const route_route_t *route; /* NULL: the stage series */
    gw_msum_t sum;
} expo_series_t;

static expo_series_t *collect(const gw_ops_t *ops, size_t *n_out)
{
    expo_series_t *v = pt_xcalloc(ops->nslots ? ops->nslots : 1, sizeof *v);
    size_t n = 0;
    for (size_t gs = 0; gs < ops->nstages; gs++) {
        size_t base = ops->stage_slot_base[gs];
        size_t end = gs + 1 < ops->nstages ? ops->stage_slot_base[gs + 1] : ops->nslots;
        expo_series_t *st = &v[n++];
        st->api = ops->slot_api[base];
        st->stage = ops->slot_stage[base];
        gw_m_sum(ops, base, &st->sum);
        for (size_t s = base + 1; s < end; s++) {
            if (!ops->slot_detailed[s]) {
                gw_m_sum(ops, s, &st->sum);
                continue;
            }
            expo_series_t *r = &v[n++];
            r->api = ops->slot_api[s];
            r->stage = ops->slot_stage[s];
            r->route = ops->slot_route[s];
            gw_m_sum(ops, s, &r->sum);
        }
    }
    *n_out = n;
    return v;
}

static const char *const CB_OPS[GW_MCB_NOPS] = {"PostToConnection", "GetConnection",
                                                "DeleteConnection", "other"};

void gw_metrics_render(gw_server_t *srv, buf_t *out)
{
    const gw_ops_t *ops = srv->ops;
    size_t n;
    expo_series_t *v = collect(ops, &n);
    buf_reserve(out, 64 * 1024);

    gw_expo_family(out, "portico_connections", "gauge",
                   "Open WebSocket connections (ApiId, Stage).");
    for (size_t i = 0; i < n; i++) {
        if (v[i].route || v[i].api->protocol != ROUTE_PROTO_WEBSOCKET)
            continue;
        const char *lab[] = {"api_id", v[i].api->id, "stage", v[i].stage->name, NULL};
        gw_expo_u64(out, "portico_connections", lab, open_of(&v[i].sum));
    }
    for (size_t f = 0; f < PT_ARRAY_LEN(FAMILIES); f++) {
        const family_t *fam = &FAMILIES[f];
        gw_expo_family(out, fam->name, fam->kind == F_HIST ? "histogram" : "counter", fam->help);
        for (size_t i = 0; i < n; i++) {
            if (fam->proto && (int)v[i].api->protocol != fam->proto)
                continue;
            const char *lab[] = {"api_id", v[i].api->id,
                                 "stage",  v[i].stage->name,
                                 "route",  v[i].route ? v[i].route->key : NULL,
                                 NULL};
            if (fam->kind == F_HIST)
                gw_expo_hist(out, fam->name, lab,
                             (const gw_hist_snap_t *)((const char *)&v[i].sum + fam->off),
                             fam->bounds);
            else
                gw_expo_u64(out, fam->name, lab, field_u64(&v[i].sum, fam->off));
        }
    }
    free(v);

    gw_expo_family(out, "portico_management_api_requests_total", "counter",
                   "@connections (ApiGatewayManagementApi) requests answered, by operation and "
                   "status code.");
    for (int op = 0; op < GW_MCB_NOPS; op++) {
        for (int c = 0; c < GW_MCB_NCODES; c++) {
            uint64_t sum = 0;
            for (int i = 0; i < ops->nwm; i++)
                sum += gw_ctr_get(&ops->wm[i].cb[op][c]);
            /* Always show each operation's success and the outcomes operators alert on (so a
             * rate() has a series from the start); any other code once it happened. */
            int cc = c < GW_MCB_NCODES - 1 ? gw_mcb_codes[c] : 0;
            bool common =
                op != GW_MCB_OTHER && (cc == (op == GW_MCB_DELETE ? 204 : 200) || cc == 403 ||
                                       cc == 410 || (op == GW_MCB_POST && cc == 429));
            if (!sum && !common)
                continue;
            char code[16];
            if (c < GW_MCB_NCODES - 1)
                snprintf(code, sizeof code, "%d", gw_mcb_codes[c]);
            else
                snprintf(code, sizeof code, "other");
            const char *lab[] = {"operation", CB_OPS[op], "code", code, NULL};
            gw_expo_u64(out, "portico_management_api_requests_total", lab, sum);
        }
    }

    gw_expo_family(out, "portico_worker_loop_lag_seconds", "histogram",
                   "Time a worker's loop turn spent handling events: an event that arrives "
                   "during a turn waits up to this long before the loop looks again.");
    for (int i = 0; i < srv->nworkers; i++) {
        gw_hist_snap_t h;
        memset(&h, 0, sizeof h);
        hist_add(&h, &ops->wm[i].loop_lag);
        char wi[16];
        snprintf(wi, sizeof wi, "%d", i);
        const char *lab[] = {"worker", wi, NULL};
        gw_expo_hist(out, "portico_worker_loop_lag_seconds", lab, &h, gw_hist_lag_us);
    }

    uint64_t lines = 0, dropped = 0;
    for (int i = 0; i < ops->nwm; i++) {
        lines += gw_ctr_get(&ops->wm[i].alog_lines);
        dropped += gw_ctr_get(&ops->wm[i].alog_dropped);
    }
    gw_expo_family(out, "portico_access_log_lines_total", "counter",
                   "Access-log lines written, by destination.");
    gw_alog_stats_t as;
    for (size_t i = 0; gw_alog_dest_stats(ops, i, &as); i++) {
        const char *lab[] = {"destination", as.name, NULL};
        gw_expo_u64(out, "portico_access_log_lines_total", lab, as.lines);
    }
    gw_expo_family(out, "portico_access_log_dropped_lines_total", "counter",
                   "Access-log lines dropped because the destination could not keep up: "
                   "reason=\"buffer_full\" when a worker's buffer was full, \"destination_full\" "
                   "when the destination's own buffer was.");
    uint64_t dest_dropped = 0, errors = 0;
    for (size_t i = 0; gw_alog_dest_stats(ops, i, &as); i++) {
        dest_dropped += as.dropped;
        errors += as.errors;
    }
    {
        const char *a[] = {"reason", "buffer_full", NULL};
        const char *b[] = {"reason", "destination_full", NULL};
        gw_expo_u64(out, "portico_access_log_dropped_lines_total", a, dropped);
        gw_expo_u64(out, "portico_access_log_dropped_lines_total", b, dest_dropped);
    }
    gw_expo_family(out, "portico_access_log_write_errors_total", "counter",
                   "Failed writes to access-log destinations (the lines are dropped).");
    gw_expo_u64(out, "portico_access_log_write_errors_total", NULL, errors);
    (void)lines;

    uint64_t reg = 0;
    gw_expo_family(out, "portico_registry_connections", "gauge",
                   "Connections in the LMDB registry (what `portico connections count` reads).");
    if (store_conn_count(srv->store, &reg) == PT_OK)
        gw_expo_u64(out, "portico_registry_connections", NULL, reg);
    gw_expo_family(out, "portico_integrations_inflight", "gauge",
                   "Integration calls submitted and not yet answered.");
    gw_expo_u64(out, "portico_integrations_inflight", NULL, integ_inflight(srv->integ));
    gw_expo_family(out, "portico_build_info", "gauge", "Portico's version; always 1.");
    {
        const char *lab[] = {"version", PORTICO_VERSION, NULL};
        gw_expo_u64(out, "portico_build_info", lab, 1);
    }

    gw_proc_t p;
    gw_proc_read(&p);
    gw_expo_family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    gw_expo_u64(out, "process_resident_memory_bytes", NULL,
                (uint64_t)(p.rss_bytes > 0 ? p.rss_bytes : 0));
    gw_expo_family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    gw_expo_u64(out, "process_virtual_memory_bytes", NULL,
                (uint64_t)(p.vsize_bytes > 0 ? p.vsize_bytes : 0));
    gw_expo_family(out, "process_open_fds", "gauge", "Open file descriptors.");
    gw_expo_u64(out, "process_open_fds", NULL, (uint64_t)(p.open_fds > 0 ? p.open_fds : 0));
    if (p.max_fds > 0) {
        gw_expo_family(out, "process_max_fds", "gauge", "Limit on open file descriptors.");
        gw_expo_u64(out, "process_max_fds", NULL, (uint64_t)p.max_fds);
    }
    gw_expo_family(out, "process_cpu_seconds_total", "counter",
                   "User and system CPU time spent, in seconds.");
    gw_expo_f64(out, "process_cpu_seconds_total", NULL, p.cpu_seconds > 0 ? p.cpu_seconds : 0);
    if (p.start_time_s > 0) {
        gw_expo_family(out, "process_start_time_seconds", "gauge",
                       "Start time of the process since the epoch, in seconds.");
        gw_expo_f64(out, "process_start_time_seconds", NULL, p.start_time_s);
    }
    if (p.threads > 0) {
        gw_expo_family(out, "process_threads", "gauge", "Threads of the process.");
        gw_expo_u64(out, "process_threads", NULL, (uint64_t)p.threads);
    }
}

/* ---- /stats ---------------------------------------------------------------------------------- */

static void sum_json(buf_t *out, const gw_msum_t *s, bool http)
{
    buf_printf(out,
               "\"connects\":%llu,\"messagesIn\":%llu,\"messagesOut\":%llu,"
               "\"clientErrors\":%llu,\"integrationErrors\":%llu,\"executionErrors\":%llu,"
               "\"outboundDropped\":%llu",
               (unsigned long long)s->connect, (unsigned long long)s->msg_in,
               (unsigned long long)s->msg_out, (unsigned long long)s->client_err,
               (unsigned long long)s->integ_err, (unsigned long long)s->exec_err,
               (unsigned long long)s->drops);
    uint64_t ic = gw_hist_count(&s->integ_lat);
    buf_printf(out, ",\"integrationCalls\":%llu,\"integrationLatencyAvgMs\":%.3f",
               (unsigned long long)ic, ic ? (double)s->integ_lat.sum_us / (double)ic / 1000 : 0.0);
    if (http)
        buf_printf(out, ",\"requests\":%llu,\"4xx\":%llu,\"5xx\":%llu",
                   (unsigned long long)s->http_count, (unsigned long long)s->http_4xx,
                   (unsigned long long)s->http_5xx);
}

void gw_stats_render(gw_server_t *srv, buf_t *out)
{
    const gw_ops_t *ops = srv->ops;
    const route_config_t *cfg = srv->cfg;
    int64_t now = time_now_ms();
    uint64_t reg = 0;
    bool have_reg = store_conn_count(srv->store, &reg) == PT_OK;
    gw_msum_t total;
    memset(&total, 0, sizeof total);
    buf_printf(out, "{\"version\":\"%s\",\"node\":%u,\"workers\":%d,\"uptimeSeconds\":%lld,",
               PORTICO_VERSION, (unsigned)srv->node, srv->nworkers,
               (long long)((now - srv->started_ms) / 1000));
    buf_printf(out, "\"connections\":{\"open\":%llu,\"registry\":",
               (unsigned long long)gw_m_open_total(ops));
    if (have_reg)
        buf_printf(out, "%llu", (unsigned long long)reg);
    else
        buf_puts(out, "null");
    buf_puts(out, "},\"apis\":[");
    for (size_t a = 0; a < cfg->napis; a++) {
        const route_api_t *api = &cfg->apis[a];
        bool http = api->protocol == ROUTE_PROTO_HTTP;
        buf_printf(out, "%s{\"apiId\":", a ? "," : "");
        buf_json_str(out, api->id, strlen(api->id));
        buf_puts(out, ",\"name\":");
        buf_json_str(out, api->name, strlen(api->name));
        buf_printf(out, ",\"protocolType\":\"%s\",\"stages\":[", http ? "HTTP" : "WEBSOCKET");
        for (size_t s = 0; s < api->nstages; s++) {
            const route_stage_t *st = &api->stages[s];
            size_t gs = gw_ops_stage_index(ops, api, st);
            size_t base = ops->stage_slot_base[gs];
            gw_msum_t sum;
            memset(&sum, 0, sizeof sum);
            for (size_t k = 0; k <= api->nroutes; k++)
                gw_m_sum(ops, base + k, &sum);
            msum_add(&total, &sum);
            buf_printf(out, "%s{\"stage\":", s ? "," : "");
            buf_json_str(out, st->name, strlen(st->name));
            buf_printf(out, ",\"open\":%llu,", (unsigned long long)open_of(&sum));
            sum_json(out, &sum, http);
            buf_puts(out, ",\"routes\":[");
            bool first = true;
            for (size_t k = 0; k < api->nroutes; k++) {
                gw_msum_t rs;
                memset(&rs, 0, sizeof rs);
                gw_m_sum(ops, base + 1 + k, &rs);
                buf_printf(out, "%s{\"routeKey\":", first ? "" : ",");
                first = false;
                buf_json_str(out, api->routes[k].key, strlen(api->routes[k].key));
                buf_printf(out, ",\"detailedMetrics\":%s,",
                           ops->slot_detailed[base + 1 + k] ? "true" : "false");
                sum_json(out, &rs, http);
                buf_putc(out, '}');
            }
            buf_puts(out, "]}");
        }
        buf_puts(out, "]}");
    }
    buf_puts(out, "],\"totals\":{");
    buf_printf(out, "\"open\":%llu,", (unsigned long long)open_of(&total));
    sum_json(out, &total, true);
    buf_puts(out, "},\"managementApi\":{");
    for (int op = 0; op < GW_MCB_NOPS; op++) {
        buf_printf(out, "%s\"%s\":{", op ? "," : "", CB_OPS[op]);
        bool first = true;
        for (int c = 0; c < GW_MCB_NCODES; c++) {
            uint64_t sum = 0;
            for (int i = 0; i < ops->nwm; i++)
                sum += gw_ctr_get(&ops->wm[i].cb[op][c]);
            if (!sum)
                continue;
            if (c < GW_MCB_NCODES - 1)
                buf_printf(out, "%s\"%d\":%llu", first ? "" : ",", gw_mcb_codes[c],
                           (unsigned long long)sum);
            else
                buf_printf(out, "%s\"other\":%llu", first ? "" : ",", (unsigned long long)sum);
            first = false;
        }
        buf_putc(out, '}');
    }
    uint64_t lines = 0, dropped = 0;
    for (int i = 0; i < ops->nwm; i++) {
        lines += gw_ctr_get(&ops->wm[i].alog_lines);
        dropped += gw_ctr_get(&ops->wm[i].alog_dropped);
    }
    buf_printf(out, "},\"accessLog\":{\"lines\":%llu,\"droppedBufferFull\":%llu,\"destinations\":[",
               (unsigned long long)lines, (unsigned long long)dropped);
    gw_alog_stats_t as;
    for (size_t i = 0; gw_alog_dest_stats(ops, i, &as); i++) {
        buf_printf(out, "%s{\"destination\":", i ? "," : "");
        buf_json_str(out, as.name, strlen(as.name));
        buf_printf(out,
                   ",\"lines\":%llu,\"bytes\":%llu,\"droppedDestinationFull\":%llu,"
                   "\"writeErrors\":%llu,\"reopens\":%llu}",
                   (unsigned long long)as.lines, (unsigned long long)as.bytes,
                   (unsigned long long)as.dropped, (unsigned long long)as.errors,
                   (unsigned long long)as.reopens);
    }
    gw_proc_t p;
    gw_proc_read(&p);
    buf_printf(out,
               "]},\"integrationsInflight\":%zu,\"process\":{\"pid\":%ld,\"rssBytes\":%lld,"
               "\"openFds\":%lld,\"threads\":%lld,\"cpuSeconds\":%.3f}}",
               integ_inflight(srv->integ), (long)getpid(), (long long)p.rss_bytes,
               (long long)p.open_fds, (long long)p.threads, p.cpu_seconds);
}

/* ---- lifetime -------------------------------------------------------------------------------- */

/* DATA_DIR/admin.json tells `portico connections --data-dir DIR kick ID` where the admin port
 * of the gateway running on DIR is. Written atomically; removed at a clean stop. */
static void write_admin_file(gw_server_t *srv)
{
    gw_ops_t *ops = srv->ops;
    const char *host = srv->cfg->server.admin_listen.host;
    char url[300];
    if (!host || strcmp(host, "0.0.0.0") == 0 || !*host)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0)
        host = "::1";
    if (strchr(host, ':'))
        snprintf(url, sizeof url, "http://[%s]:%d", host, srv->admin_port);
    else
        snprintf(url, sizeof url, "http://%s:%d", host, srv->admin_port);
    char tmp[4200];
    snprintf(ops->admin_file, sizeof ops->admin_file, "%s/admin.json", srv->cfg->server.data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", ops->admin_file);
    FILE *f = fopen(tmp, "we");
    if (!f) {
        LOG_WARN("cannot write %s: %s", ops->admin_file, strerror(errno));
        ops->admin_file[0] = '\0';
        return;
    }
    fprintf(f, "{\"admin\": \"%s\", \"pid\": %ld}\n", url, (long)getpid());
    if (fclose(f) != 0 || rename(tmp, ops->admin_file) != 0) {
        LOG_WARN("cannot write %s: %s", ops->admin_file, strerror(errno));
        unlink(tmp);
        ops->admin_file[0] = '\0';
    }
}

void gw_ops_start(gw_server_t *srv)
{
    if (!srv->ops)
        return;
    gw_alog_start(srv->ops);
    write_admin_file(srv);
}

void gw_ops_stop(gw_server_t *srv)
{
    if (!srv->ops)
        return;
    gw_alog_stop(srv->ops);
    if (srv->ops->admin_file[0])
        unlink(srv->ops->admin_file);
}
