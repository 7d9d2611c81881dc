/* ops.h: operations: metrics, access logs, the admin API, the status page and the CLI. */
#ifndef PORTICO_GATEWAY_OPS_H
#define PORTICO_GATEWAY_OPS_H

/*
 * What an operator sees of a running gateway (docs/operations.md):
 *
 *   metrics.c    per-worker counters and histograms, named after API Gateway's CloudWatch
 *                metrics (spec 10.1), summed over workers when /metrics is scraped
 *   expo.c       the Prometheus text exposition writer and histogram buckets (pure)
 *   accesslog.c  access-log lines (spec 10.2): rendered on the worker, handed to a logging
 *                thread through a bounded per-worker ring, written to files or stdout
 *   admin.c      the admin port's router: health, metrics, stats, the connections API
 *   status.c     the live status page: a once-a-second sampler and a server-sent-events feed
 *   cli.c        `portico connections ...`
 *
 * Counting never takes a lock and never does a locked read-modify-write: every counter belongs
 * to one worker and only that worker's thread writes it (a relaxed load and a relaxed store);
 * the admin thread reads them all and sums. A counter is therefore exact once the worker that
 * owns it has finished its loop turn, which is all a scrape needs.
 *
 * Thread context is noted per function: "worker" means the calling worker's own thread (its
 * own counters), "admin" the admin loop's thread.
 */

#include "gateway/gw.h"

/* ---- counters and histograms ------------------------------------------------------------ */

/* Adds to a counter only its owner writes: relaxed load + store, no locked instruction. */
static inline void gw_ctr_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

static inline uint64_t gw_ctr_get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

/* 14 finite buckets and +Inf. Bounds are in microseconds, ascending. */
#define GW_HIST_N 15
typedef struct gw_hist {
    _Atomic uint64_t b[GW_HIST_N]; /* per bucket (not cumulative); the count is their sum */
    _Atomic uint64_t sum_us;
} gw_hist_t;

/* IntegrationLatency, Latency: 1 ms .. 30 s (integrations time out at 29 s). */
extern const int64_t gw_hist_latency_us[GW_HIST_N - 1];
/* Worker loop lag: 50 us .. 1 s. */
extern const int64_t gw_hist_lag_us[GW_HIST_N - 1];

/* Index of the bucket a value falls in (v <= bound), GW_HIST_N - 1 for +Inf. Pure. */
size_t gw_hist_bucket(const int64_t *bounds, int64_t v);

static inline void gw_hist_observe(gw_hist_t *h, const int64_t *bounds, int64_t us)
{
    if (us < 0)
        us = 0;
    gw_ctr_add(&h->b[gw_hist_bucket(bounds, us)], 1);
    gw_ctr_add(&h->sum_us, (uint64_t)us);
}

/* A plain (non-atomic) copy of a histogram, for sums and deltas. */
typedef struct gw_hist_snap {
    uint64_t b[GW_HIST_N];
    uint64_t sum_us;
} gw_hist_snap_t;

uint64_t gw_hist_count(const gw_hist_snap_t *h);
/* Linear interpolation inside the bucket holding quantile q (0..1), in microseconds; 0 when
 * empty; the last finite bound when it falls in +Inf. Pure. */
double gw_hist_quantile(const gw_hist_snap_t *h, const int64_t *bounds, double q);

/* One metric series: (api, stage) for events no detailed route claims, or (api, stage, route)
 * for a route. Every field is written by the owning worker only. */
typedef struct gw_mblock {
    _Atomic uint64_t open;   /* connections established (stage block only) */
    _Atomic uint64_t closed; /* connections closed (stage block only); open - closed is the gauge */
    _Atomic uint64_t connect;    /* ConnectCount */
    _Atomic uint64_t msg_in;     /* MessageCount, from clients */
    _Atomic uint64_t msg_out;    /* MessageCount, to clients (route responses, pushes) */
    _Atomic uint64_t client_err; /* ClientError */
    _Atomic uint64_t integ_err;  /* IntegrationError */
    _Atomic uint64_t exec_err;   /* ExecutionError */
    _Atomic uint64_t drops;      /* outbound queue full */
    _Atomic uint64_t http_count; /* Count (HTTP APIs) */
    _Atomic uint64_t http_4xx;   /* 4XXError */
    _Atomic uint64_t http_5xx;   /* 5XXError */
    gw_hist_t integ_lat;         /* IntegrationLatency */
    gw_hist_t http_lat;          /* Latency (HTTP APIs) */
} gw_mblock_t;

/* @connections calls, by operation and status. */
enum { GW_MCB_POST, GW_MCB_GET, GW_MCB_DELETE, GW_MCB_OTHER, GW_MCB_NOPS };
#define GW_MCB_NCODES 13
extern const int gw_mcb_codes[GW_MCB_NCODES - 1]; /* the last index counts any other code */

struct gw_alog_ring;

/* A worker's metrics (the admin loop has one too). Allocated by gw_ops_init. */
typedef struct gw_wmetrics {
    gw_mblock_t *blocks; /* ops->nslots */
    _Atomic uint64_t cb[GW_MCB_NOPS][GW_MCB_NCODES];
    gw_hist_t loop_lag;
    _Atomic uint64_t alog_lines;   /* handed to the logging thread */
    _Atomic uint64_t alog_dropped; /* the ring was full */
    struct gw_alog_ring *ring;     /* NULL when no stage logs */
    buf_t alog_line;               /* worker's scratch for rendering */
    buf_t alog_scratch;
} gw_wmetrics_t;

/* ---- server-wide state -------------------------------------------------------------------- */

struct gw_alog_dest;
struct gw_status;

typedef struct gw_ops {
    gw_server_t *srv;
    /* series slots: one per stage, then one per route of that stage */
    size_t *api_stage_base;  /* per API: index of its first stage */
    size_t *stage_slot_base; /* per stage: its slot; its routes follow */
    size_t nstages;
    size_t nslots;
    const route_api_t **slot_api;
    const route_stage_t **slot_stage;
    const route_route_t **slot_route; /* NULL for the stage slot */
    bool *slot_detailed;              /* route slots: detailedMetricsEnabled in that stage */
    gw_wmetrics_t *wm;                /* nworkers + 1 */
    int nwm;
    /* access logs */
    route_alog_t **stage_fmt; /* per stage; NULL when the stage does not log */
    int *stage_dest;          /* per stage: index into dests */
    struct gw_alog_dest *dests;
    size_t ndests;
    bool alog_on;
    int alog_efd; /* wakes the logging thread */
    pthread_t alog_thread;
    bool alog_running;
    _Atomic bool alog_stop;
    /* status page (admin thread only) */
    struct gw_status *status;
    char admin_file[4096]; /* DATA_DIR/admin.json, "" when not written */
} gw_ops_t;

/* Builds slots, per-worker metrics and access-log destinations (files are opened now, so a
 * bad path stops the start with a message). Before the workers are initialised. Returns PT_OK
 * or PT_EIO / PT_EINVAL with a reason in err. */
int gw_ops_init(gw_server_t *srv, buf_t *err);
/* After the worker threads started: the logging thread; DATA_DIR/admin.json for the CLI. */
void gw_ops_start(gw_server_t *srv);
/* After the workers are joined: the logging thread drains every line and stops. */
void gw_ops_stop(gw_server_t *srv);
void gw_ops_free(gw_server_t *srv);
/* The metrics of worker index (gw_worker_init keeps the pointer); NULL without ops. */
gw_wmetrics_t *gw_ops_worker(gw_server_t *srv, int index);

/* Slot of (api, stage, route): the route's own slot when route is not NULL, else the stage's.
 * Events are always counted per route (the status page shows every route); /metrics reports
 * a route on its own only when detailedMetricsEnabled, and folds the others into the stage. */
size_t gw_ops_slot(const gw_ops_t *ops, const route_api_t *api, const route_stage_t *stage,
                   const route_route_t *route);
size_t gw_ops_stage_index(const gw_ops_t *ops, const route_api_t *api, const route_stage_t *stage);

/* ---- counting (worker) ------------------------------------------------------------------- */

/* ConnectCount: an upgrade reached its stage's $connect step. */
void gw_m_connect(gw_worker_t *w, const gw_ws_t *ws);
/* The open-connections gauge: +1 when a connection is established, -1 when it closes. */
void gw_m_open(gw_worker_t *w, const gw_ws_t *ws, bool open);
/* MessageCount: a message from the client (route NULL: no route matched). */
void gw_m_message_in(gw_worker_t *w, const gw_ws_t *ws, const route_route_t *route);
/* MessageCount: a message queued to the client. */
void gw_m_message_out(gw_worker_t *w, const gw_ws_t *ws);
/* ClientError: refused by the gateway before any integration ran. */
void gw_m_client_error(gw_worker_t *w, const route_api_t *api, const route_stage_t *stage,
                       const route_route_t *route);
/* ExecutionError without a result (the request could not even be built). */
void gw_m_exec_error(gw_worker_t *w, const route_api_t *api, const route_stage_t *stage,
                     const route_route_t *route);
/* An outbound message refused because the connection's queue was full. */
void gw_m_drop(gw_worker_t *w, const gw_ws_t *ws);
/* An @connections answer (the request is c->req; op from its method). */
void gw_m_cb(gw_worker_t *w, const http_request_t *req, int status);
/* One loop turn took busy_us. */
void gw_m_loop(gw_worker_t *w, int64_t busy_us);

/* ---- integration results and access-log lines (worker) ---------------------------------- */

/* Counts an integration result: IntegrationLatency; IntegrationError (the backend answered
 * 4XX/5XX); ExecutionError (timeout, unreachable, too big, a Lambda function error). */
void gw_ops_integ(gw_worker_t *w, const gw_call_t *call, const route_integ_result_t *res);
/* The access-log line of a $connect or message whose outcome is known: sets ctx->status and
 * the error fields from the outcome (res may be NULL for MOCK), counts an ExecutionError for
 * a malformed result, and logs. */
void gw_ops_outcome(gw_worker_t *w, route_ctx_t *ctx, const route_integ_result_t *res,
                    const route_outcome_t *out);

/* The integration request could not even be built: ExecutionError, status 500, logged. */
void gw_ops_submit_failed(gw_worker_t *w, route_ctx_t *ctx);
/* A message no route matched: ClientError, logged with 403 "Forbidden" (the error frame's). */
void gw_ops_no_route(gw_worker_t *w, const gw_ws_t *ws, const char *request_id);

/* Values of HTTP API access-log variables; NULL / -1 when they do not apply. */
typedef struct gw_alog_http {
    const char *http_method; /* $context.httpMethod */
    size_t http_method_len;
    const char *path; /* $context.path */
    size_t path_len;
    const char *protocol;        /* $context.protocol, "HTTP/1.1" */
    int64_t response_latency_ms; /* $context.responseLatency */
    int64_t response_length;     /* $context.responseLength */
} gw_alog_http_t;

/* Writes the stage's access-log line for ctx (nothing when the stage does not log). Never
 * blocks: a full ring drops the line and counts it. http may be NULL. */
void gw_alog(gw_worker_t *w, const route_ctx_t *ctx, const gw_alog_http_t *http);
/* The same for an event that has no context at hand: builds it from the connection (a new
 * request id when request_id is NULL; DISCONNECT takes the close code and reason from ws). */
void gw_alog_ws(gw_worker_t *w, const gw_ws_t *ws, route_event_kind_t kind,
                const route_route_t *route, const char *request_id, int status, const char *error);

/*
 * HTTP APIs: one call per answered request, on the worker that answered it. Counts Count,
 * 4XXError, 5XXError, Latency (latency_us: request head received to response queued) and,
 * when integ_latency_us >= 0, IntegrationLatency, for (ctx->api, ctx->stage, ctx->route);
 * then writes the access-log line (ctx->status is set to status). ctx->api and ctx->stage
 * must be set; ctx->route may be NULL (no route matched).
 */
void gw_ops_http(gw_worker_t *w, route_ctx_t *ctx, int status, int64_t latency_us,
                 int64_t integ_latency_us, const gw_alog_http_t *http);

/* ---- access-log plumbing (accesslog.c) ----------------------------------------------------- */

int gw_alog_init(gw_ops_t *ops, buf_t *err);
void gw_alog_start(gw_ops_t *ops);
void gw_alog_stop(gw_ops_t *ops);
void gw_alog_free(gw_ops_t *ops);
/* Per destination totals (admin thread). Returns false past the last one. */
typedef struct gw_alog_stats {
    const char *name; /* "stdout" or the path */
    uint64_t lines, bytes, dropped, errors, reopens;
} gw_alog_stats_t;
bool gw_alog_dest_stats(const gw_ops_t *ops, size_t i, gw_alog_stats_t *out);
/* The ring: exposed for tests. */
struct gw_alog_ring *gw_alog_ring_new(size_t cap);
void gw_alog_ring_free(struct gw_alog_ring *r);
/* Producer: false when it does not fit (the caller counts a drop). */
bool gw_alog_ring_put(struct gw_alog_ring *r, uint16_t dest, const char *line, size_t len);
/* Consumer: the next record, or false when empty; release it with gw_alog_ring_pop. */
bool gw_alog_ring_peek(struct gw_alog_ring *r, uint16_t *dest, const char **line, size_t *len);
void gw_alog_ring_pop(struct gw_alog_ring *r);
size_t gw_alog_ring_used(struct gw_alog_ring *r);

/* ---- exposition (expo.c, pure) ------------------------------------------------------------ */

/* "# HELP name help\n# TYPE name type\n". */
void gw_expo_family(buf_t *out, const char *name, const char *type, const char *help);
/* name{k="v",...} value\n. labels: k0, v0, k1, v1, ..., NULL; a NULL or "" value omits the
 * label. Values are escaped as the format requires (\\, \", \n). */
void gw_expo_u64(buf_t *out, const char *name, const char *const *labels, uint64_t v);
void gw_expo_f64(buf_t *out, const char *name, const char *const *labels, double v);
/* name_bucket{...,le="..."} (cumulative), name_sum (seconds), name_count. */
void gw_expo_hist(buf_t *out, const char *name, const char *const *labels, const gw_hist_snap_t *h,
                  const int64_t *bounds_us);

/* ---- sums (metrics.c, admin thread) -------------------------------------------------------- */

typedef struct gw_msum {
    uint64_t open, closed, connect, msg_in, msg_out, client_err, integ_err, exec_err, drops;
    uint64_t http_count, http_4xx, http_5xx;
    gw_hist_snap_t integ_lat, http_lat;
} gw_msum_t;

/* Sums slot over every worker (adds into out). */
void gw_m_sum(const gw_ops_t *ops, size_t slot, gw_msum_t *out);
/* Open connections, all stages, all workers. */
uint64_t gw_m_open_total(const gw_ops_t *ops);
/* The /metrics body. */
void gw_metrics_render(gw_server_t *srv, buf_t *out);
/* The /stats body. */
void gw_stats_render(gw_server_t *srv, buf_t *out);

/* Process figures from /proc/self; -1 when unknown. */
typedef struct gw_proc {
    int64_t rss_bytes, vsize_bytes, open_fds, max_fds, threads;
    double cpu_seconds, start_time_s;
} gw_proc_t;
void gw_proc_read(gw_proc_t *out);

/* ---- admin loop ---------------------------------------------------------------------------- */

/* Called by the admin loop every turn: runs the status sampler when due and closes live
 * feeds when the loop is stopping. */
void gw_admin_tick(gw_worker_t *w, int64_t now_ms);
/* The admin loop's epoll timeout, given the loop's own (ms). */
int gw_admin_timeout(gw_worker_t *w, int64_t now_ms, int timeout);
/* The answer to a DELETE /connections/{id} forwarded to the owner worker. */
void gw_admin_on_reply(gw_worker_t *w, gw_cb_msg_t *m);

/* status.c */
int gw_status_init(gw_ops_t *ops);
void gw_status_free(gw_ops_t *ops);
void gw_status_sample(gw_worker_t *w, int64_t now_ms);
/* Subscribes the connection (its request head is answered here) to the live feed. */
void gw_status_subscribe(gw_conn_t *c);
/* The feed's JSON document, now. */
void gw_status_json(gw_ops_t *ops, buf_t *out);
/* Closes every subscriber (the loop is stopping). */
void gw_status_close_all(gw_worker_t *w);
int64_t gw_status_next_ms(const gw_ops_t *ops);

/* Embedded status page files (generated from gateway/admin-ui/ by CMake). */
typedef struct gw_asset {
    const char *path; /* "/ui/app.js" */
    const char *type;
    const unsigned char *data;
    size_t len;
} gw_asset_t;
extern const gw_asset_t gw_admin_assets[];
extern const size_t gw_admin_nassets;

/* ---- connections as JSON (admin API and CLI) ------------------------------------------------ */

typedef struct gw_conn_filter {
    const char *api_id; /* NULL = any */
    const char *stage;
    int64_t min_age_s; /* -1 = none */
    int64_t max_age_s;
} gw_conn_filter_t;

bool gw_conn_match(const store_conn_t *r, const gw_conn_filter_t *f, int64_t now_ms);
/* {"connectionId":...,"apiId":...,...} */
void gw_conn_json(const store_conn_t *r, int64_t now_ms, buf_t *out);

/* cli.c: `portico connections ...` (argv[0] is "connections"). Returns the exit status. */
int gw_cli_connections(int argc, char **argv);

#endif
