/* outbox.c: the crash-safe $disconnect: owed entries in the registry, settled, replayed at start.
 */
/*
 * Every $disconnect the gateway fires is first owed: gw_outbox_owe queues an outbox entry in the
 * worker's batch, next to the registry delete of the connection, so both commit in one LMDB
 * transaction at the end of the loop turn. The entry is deleted when the integration answers
 * (any HTTP status: the backend heard about it). A failed attempt (refused, reset, timed out)
 * is retried by the same worker after a back-off (1 s, 4 s, 16 s, 64 s), with the same
 * requestId, until GW_OUTBOX_ATTEMPTS attempts were made; then the entry is dropped with a
 * warning. At start-up, gw_outbox_recover turns the registry records a killed run left behind
 * into entries (store_sweep_outbox, code 1006) and fires every entry again. A kill -9 at any
 * point therefore loses no $disconnect; one may arrive twice (at least once, as AWS's own
 * delivery).
 *
 * An entry's attempts counts the attempts started, written before each one goes out (the
 * first with the entry itself), so an entry whose call crashes the process is not replayed
 * forever; a retry waiting in memory when the process stops is replayed at the next start.
 */
#include "gateway/gw.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>

/* Attempts per $disconnect, over restarts: a backend that never answers (or an entry whose
 * replay crashes the process) does not hold the outbox forever. */
#define GW_OUTBOX_ATTEMPTS 5
/* Wait before the retry that follows attempt n: GW_RETRY_FIRST_MS << 2 * (n - 1). */
#define GW_RETRY_FIRST_MS 1000

/* A failed $disconnect waiting in memory for its next attempt on the worker that fired it. */
typedef struct gw_retry {
    struct gw_retry *next;
    int64_t due_ms; /* monotonic */
    char id[ID_LEN + 1];
} gw_retry_t;

/* The record as the registry had it: what the replayed event is built from. */
static void conn_of_ws(const gw_worker_t *w, const gw_ws_t *ws, store_conn_t *rec,
                       char **authorizer_json)
{
    memset(rec, 0, sizeof *rec);
    memcpy(rec->id, ws->id, sizeof rec->id);
    rec->node = w->srv->node;
    rec->worker = (uint8_t)w->index;
    rec->epoch = w->srv->epoch;
    rec->connected_at_ms = ws->connected_at_ms;
    rec->last_active_at_ms = ws->last_active_ms;
    rec->api_id = ws->api->id;
    rec->stage = ws->stage->name;
    rec->source_ip = ws->source_ip;
    rec->user_agent = ws->user_agent;
    rec->domain_name = ws->domain;
    *authorizer_json = ws->authorizer ? json_dumps(ws->authorizer, JSON_COMPACT) : NULL;
    if (*authorizer_json && strlen(*authorizer_json) > STORE_STR_MAX) {
        free(*authorizer_json); /* cannot be kept: the replay goes without it */
        *authorizer_json = NULL;
    }
    rec->authorizer_json = *authorizer_json;
}

void gw_outbox_owe(gw_worker_t *w, const gw_ws_t *ws, int code, const char *reason,
                   const char *request_id)
{
    char *az = NULL; /* owned */
    store_outbox_t e;
    memset(&e, 0, sizeof e);
    conn_of_ws(w, ws, &e.conn, &az);
    e.close_code = code;
    e.close_reason = (char *)reason;
    e.request_id = (char *)request_id;
    e.closed_at_ms = time_now_ms();
    e.attempts = 1; /* the one just fired */
    if (store_batch_outbox_put(w->batch, &e) != PT_OK)
        LOG_WARN("[conn|%s] $disconnect not kept in the outbox (a field is over its limit)",
                 ws->id);
    free(az);
}

static void schedule_retry(gw_worker_t *w, const char *id, unsigned attempt, int64_t now_ms)
{
    gw_retry_t *r = pt_xcalloc(1, sizeof *r); /* owned by w->retries until it is due */
    unsigned shift = 2 * (attempt - 1);
    r->due_ms = now_ms + ((int64_t)GW_RETRY_FIRST_MS << (shift < 20 ? shift : 20));
    memcpy(r->id, id, sizeof r->id);
    gw_retry_t **p = &w->retries;
    while (*p && (*p)->due_ms <= r->due_ms)
        p = &(*p)->next;
    r->next = *p;
    *p = r;
}

/* A failed attempt: the entry stays (its attempts were counted when it went out) and is tried
 * again later, or dropped once every attempt failed. Returns whether it stays. */
static bool settle_failed(store_batch_t *b, const gw_call_t *call)
{
    if (call->attempt < GW_OUTBOX_ATTEMPTS)
        return true;
    LOG_WARN("[conn|%s] $disconnect failed %u times; dropped from the outbox", call->connection_id,
             call->attempt);
    store_batch_outbox_del(b, call->connection_id);
    return false;
}

void gw_outbox_settle(gw_worker_t *w, const gw_call_t *call)
{
    if (call->job && call->job->error == PT_OK)
        store_batch_outbox_del(w->batch, call->connection_id);
    else if (settle_failed(w->batch, call) && !w->stopping)
        schedule_retry(w, call->connection_id, call->attempt, time_mono_ms());
    /* stopping: the next start replays it */
}

void gw_outbox_settle_late(gw_server_t *srv, const gw_call_t *call)
{
    store_batch_t *b = store_batch_new(); /* owned */
    if (call->job && call->job->error == PT_OK)
        store_batch_outbox_del(b, call->connection_id);
    else
        settle_failed(b, call); /* kept: replayed at the next start */
    if (store_batch_len(b))
        store_batch_commit(srv->store, b, NULL, NULL);
    store_batch_free(b);
}

/* ---- start-up ------------------------------------------------------------------------------ */

typedef struct owed {
    store_outbox_t *v; /* owned, each entry cleared with store_outbox_clear */
    size_t n, cap;
} owed_t;

static int on_entry(void *ctx, const store_outbox_t *e)
{
    owed_t *o = ctx;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->v = pt_xrealloc(o->v, o->cap * sizeof *o->v);
    }
    /* The entry is only valid during the call: copy it out through its codec. */
    char *enc = NULL;
    size_t len = 0;
    if (store_outbox_encode(e, &enc, &len) == PT_OK &&
        store_outbox_decode(e->conn.id, enc, len, &o->v[o->n]) == PT_OK)
        o->n++;
    free(enc);
    return 0;
}

/* Fires one owed $disconnect on worker w (at start-up, before w runs, or a retry on w).
 * Returns true when a call went out, false when the entry is to be dropped. */
static bool replay_one(gw_worker_t *w, store_outbox_t *e)
{
    gw_server_t *srv = w->srv;
    const store_conn_t *r = &e->conn;
    route_api_t *api = r->api_id ? route_api_find(srv->cfg, r->api_id) : NULL;
    route_stage_t *st = api && r->stage ? route_stage_find(api, r->stage, strlen(r->stage)) : NULL;
    if (!api || !st) {
        LOG_WARN("[conn|%s] $disconnect owed for API %s stage %s, which the configuration no "
                 "longer has; dropped",
                 r->id, r->api_id ? r->api_id : "-", r->stage ? r->stage : "-");
        return false;
    }
    if (e->attempts >= GW_OUTBOX_ATTEMPTS) {
        LOG_WARN("[conn|%s] $disconnect failed %u times; dropped from the outbox", r->id,
                 e->attempts);
        return false;
    }
    char rid[ID_LEN + 1];
    if (e->request_id && strlen(e->request_id) == ID_LEN) {
        memcpy(rid, e->request_id, sizeof rid);
    } else {
        id_request_new(&w->ids, rid);
        free(e->request_id);
        e->request_id = pt_xstrdup(rid);
    }
    gw_ws_t ws;
    memset(&ws, 0, sizeof ws);
    memcpy(ws.id, r->id, sizeof ws.id);
    ws.api = api;
    ws.stage = st;
    ws.connected_at_ms = r->connected_at_ms;
    ws.last_active_ms = r->last_active_at_ms;
    ws.source_ip = r->source_ip;
    ws.user_agent = r->user_agent;
    ws.domain = r->domain_name;
    if (r->authorizer_json)
        ws.authorizer = json_loads(r->authorizer_json, 0, NULL);
    /* Counted before it is fired, so an entry that crashes the process is not replayed
     * forever; committed by the caller before any call can come back. */
    e->attempts++;
    store_batch_outbox_put(w->batch, e);
    int rc = gw_disconnect_fire(w, &ws, e->close_code, e->close_reason ? e->close_reason : "", rid,
                                e->attempts);
    json_decref(ws.authorizer);
    return rc == PT_OK;
}

void gw_outbox_retry(gw_worker_t *w, int64_t now_ms)
{
    if (w->stopping)
        return; /* what is still owed is replayed at the next start */
    while (w->retries && w->retries->due_ms <= now_ms) {
        gw_retry_t *r = w->retries;
        w->retries = r->next;
        store_outbox_t e;
        /* Committed long ago (a turn ends with its commit); gone if a restart raced it. */
        if (store_outbox_get(w->srv->store, r->id, &e) == PT_OK) {
            LOG_INFO("[conn|%s] $disconnect: attempt %u of %u", r->id, e.attempts + 1,
                     GW_OUTBOX_ATTEMPTS);
            if (!replay_one(w, &e))
                store_batch_outbox_del(w->batch, r->id);
            store_outbox_clear(&e);
        }
        free(r);
    }
}

int64_t gw_outbox_next_retry(const gw_worker_t *w, int64_t now_ms)
{
    if (!w->retries || w->stopping)
        return -1;
    return w->retries->due_ms > now_ms ? w->retries->due_ms - now_ms : 0;
}

void gw_outbox_retries_free(gw_worker_t *w)
{
    while (w->retries) {
        gw_retry_t *r = w->retries;
        w->retries = r->next;
        free(r);
    }
}

int gw_outbox_recover(gw_server_t *srv, gw_worker_t *w)
{
    owed_t o = {0};
    int64_t t0 = time_mono_ms();
    int nswept, rc;
    size_t fired = 0;

    /* Records of an earlier run of this node are connections that no longer exist. */
    nswept = store_sweep_outbox(srv->store, srv->node, srv->epoch, WS_CLOSE_ABNORMAL, time_now_ms(),
                                NULL, NULL);
    if (nswept < 0) {
        LOG_ERROR("registry: start-up sweep failed: %s", pt_strerror(nswept));
        return nswept;
    }
    rc = store_outbox_iter(srv->store, NULL, 0, on_entry, &o);
    if (rc != PT_OK) {
        LOG_ERROR("registry: cannot read the $disconnect outbox: %s", pt_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < o.n; i++) {
        if (replay_one(w, &o.v[i]))
            fired++;
        else
            store_batch_outbox_del(w->batch, o.v[i].conn.id);
        /* A batch per few thousand entries: no transaction stays long. */
        if (store_batch_len(w->batch) >= 4096 || i + 1 == o.n) {
            rc = store_batch_commit(srv->store, w->batch, NULL, NULL);
            if (rc != PT_OK)
                LOG_ERROR("registry: outbox commit failed: %s", pt_strerror(rc));
        }
    }
    if (nswept > 0 || o.n > 0)
        LOG_INFO("registry: removed %d connections left by an earlier run; %zu $disconnect owed, "
                 "%zu fired (%lld ms)",
                 nswept, o.n, fired, (long long)(time_mono_ms() - t0));
    rc = PT_OK;
out:
    for (size_t i = 0; i < o.n; i++)
        store_outbox_clear(&o.v[i]);
    free(o.v);
    return rc;
}

void gw_outbox_maintain(gw_server_t *srv, int64_t now_ms)
{
    if (now_ms < srv->maintain_at_ms)
        return;
    srv->maintain_at_ms = now_ms + 5000;
    /* Reader slots of killed processes (a CLI killed mid-read) pin old pages until cleared. */
    int n = store_maintain(srv->store);
    if (n > 0)
        LOG_INFO("registry: cleared %d stale reader slots", n);
}
