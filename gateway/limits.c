/* limits.c: throttles shared by every worker: route and stage buckets, the server-wide bucket,
 * the @connections bucket, and per-IP connection counts and rates (issue 7). */
#include "gateway/gw.h"
#include "routes/security.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * AWS throttles with token buckets, in this order: usage plan, route (stage routeSettings, or
 * defaultRouteSettings as each route's default), then account (docs/security.md). The buckets
 * are shared by every worker, so a client cannot multiply its allowance by landing on several
 * workers; each table has one lock, held for a hash lookup and a few arithmetic operations.
 * Nothing here is touched when no throttle is configured: the callers test that first.
 *
 * Per-IP state (Portico's maxConnectionsPerIp and connectRateLimitPerIp) lives in a second
 * table; an entry is dropped when it holds no connection and its bucket is full again, so
 * the table only holds addresses that are connected or were recently throttled.
 */

#define LIM_BUCKETS 1024

typedef struct lim_route {
    struct lim_route *next;
    const route_stage_t *stage;
    route_bucket_t b;
    char key[]; /* route key */
} lim_route_t;

typedef struct lim_ip {
    struct lim_ip *next;
    uint32_t conns; /* open WebSockets from this address */
    route_bucket_t b;
    char ip[64];
} lim_ip_t;

typedef struct lim_mbucket {
    struct lim_mbucket *next;
    const route_plan_method_t *m;
    route_bucket_t b;
} lim_mbucket_t;

typedef struct lim_plan {
    struct lim_plan *next;
    const route_usage_plan_t *plan;
    const route_apikey_t *key;
    route_bucket_t b;
    lim_mbucket_t *methods;
    route_quota_counter_t q;
    bool dirty;
    char skey[STORE_QUOTA_KEY_MAX + 1]; /* "PLANID/KEYID" */
} lim_plan_t;

struct gw_limits {
    const route_limits_t *lim;
    pthread_mutex_t mu;
    lim_route_t *routes[LIM_BUCKETS];
    bool has_server;
    route_bucket_t server;
    bool has_cb;
    route_bucket_t cb;
    pthread_mutex_t ip_mu;
    lim_ip_t *ips[LIM_BUCKETS];
    size_t nips;
    pthread_mutex_t plan_mu; /* usage plans (below) */
    struct lim_plan *plans[LIM_BUCKETS];
    int64_t flushed_us;
};

static uint64_t str_hash(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}

gw_limits_t *gw_limits_create(const route_config_t *cfg)
{
    gw_limits_t *l = pt_xcalloc(1, sizeof *l);
    int64_t now = time_mono_us();
    l->lim = &cfg->server.limits;
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->ip_mu, NULL);
    pthread_mutex_init(&l->plan_mu, NULL);
    const route_throttle_t *st = cfg->security ? &cfg->security->server_throttle : NULL;
    if (st && st->set) {
        l->has_server = true;
        route_bucket_init(&l->server, st->rate, st->burst, now);
    }
    if (l->lim->connections_api_rate > 0 || l->lim->connections_api_burst > 0) {
        l->has_cb = true;
        route_bucket_init(&l->cb, l->lim->connections_api_rate, l->lim->connections_api_burst, now);
    }
    return l;
}

static void plan_free(lim_plan_t *p)
{
    for (lim_mbucket_t *m = p->methods, *n; m; m = n) {
        n = m->next;
        free(m);
    }
    free(p);
}

void gw_limits_destroy(gw_limits_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < LIM_BUCKETS; i++) {
        for (lim_route_t *r = l->routes[i], *n; r; r = n) {
            n = r->next;
            free(r);
        }
        for (lim_ip_t *p = l->ips[i], *n; p; p = n) {
            n = p->next;
            free(p);
        }
        for (struct lim_plan *p = l->plans[i], *n; p; p = n) {
            n = p->next;
            plan_free(p);
        }
    }
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->ip_mu);
    pthread_mutex_destroy(&l->plan_mu);
    free(l);
}

bool gw_limits_active(const gw_limits_t *l, const route_stage_t *stage, const char *route_key)
{
    return l->has_server || (stage && route_stage_throttle(stage, route_key) != NULL);
}

bool gw_limits_take(gw_limits_t *l, const route_stage_t *stage, const char *route_key)
{
    const route_settings_t *s = stage ? route_stage_throttle(stage, route_key) : NULL;
    if (!s && !l->has_server)
        return true;
    int64_t now = time_mono_us();
    bool ok = true;
    route_bucket_t *rb = NULL;
    pthread_mutex_lock(&l->mu);
    if (s) {
        const char *k = route_key ? route_key : "";
        uint64_t h = str_hash(k, 1469598103934665603ull ^ (uint64_t)(uintptr_t)stage);
        lim_route_t **pp = &l->routes[h % LIM_BUCKETS], *r;
        for (r = *pp; r; r = r->next)
            if (r->stage == stage && strcmp(r->key, k) == 0)
                break;
        if (!r) {
            size_t kl = strlen(k);
            r = pt_xcalloc(1, sizeof *r + kl + 1);
            r->stage = stage;
            memcpy(r->key, k, kl + 1);
            route_bucket_init(&r->b, s->throttling_rate_limit, s->throttling_burst_limit, now);
            r->next = *pp;
            *pp = r;
        }
        rb = &r->b;
        ok = route_bucket_take(rb, now);
    }
    if (ok && l->has_server && !route_bucket_take(&l->server, now)) {
        ok = false;
        if (rb) /* the route's token was not used: the request never ran */
            route_bucket_give(rb);
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

bool gw_limits_cb_take(gw_limits_t *l)
{
    if (!l->has_cb && !l->has_server)
        return true;
    int64_t now = time_mono_us();
    bool ok = true;
    pthread_mutex_lock(&l->mu);
    if (l->has_cb)
        ok = route_bucket_take(&l->cb, now);
    if (ok && l->has_server && !route_bucket_take(&l->server, now)) {
        ok = false;
        if (l->has_cb)
            route_bucket_give(&l->cb);
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* ---- per IP ---------------------------------------------------------------------------------- */

static bool ip_limits_on(const route_limits_t *lim)
{
    return lim->max_connections_per_ip > 0 || lim->connect_rate_per_ip > 0 ||
           lim->connect_burst_per_ip > 0;
}

static void ip_sweep_locked(gw_limits_t *l)
{
    for (size_t i = 0; i < LIM_BUCKETS; i++) {
        for (lim_ip_t **pp = &l->ips[i]; *pp;) {
            lim_ip_t *e = *pp;
            if (e->conns == 0) {
                *pp = e->next;
                free(e);
                l->nips--;
            } else {
                pp = &e->next;
            }
        }
    }
}

int gw_limits_ip_connect(gw_limits_t *l, const char *ip)
{
    const route_limits_t *lim = l->lim;
    if (!ip_limits_on(lim))
        return PT_OK;
    int64_t now = time_mono_us();
    int rc = PT_OK;
    uint64_t h = str_hash(ip, 1469598103934665603ull);
    pthread_mutex_lock(&l->ip_mu);
    if (l->nips > 65536) /* throttled addresses that never connected: bounded memory */
        ip_sweep_locked(l);
    lim_ip_t **pp = &l->ips[h % LIM_BUCKETS], *e;
    for (e = *pp; e; e = e->next)
        if (strcmp(e->ip, ip) == 0)
            break;
    if (!e) {
        e = pt_xcalloc(1, sizeof *e);
        snprintf(e->ip, sizeof e->ip, "%s", ip);
        bool rate = lim->connect_rate_per_ip > 0 || lim->connect_burst_per_ip > 0;
        /* Without a rate, a bucket that never empties; a burst of 0 with a rate means 1. */
        route_bucket_init(&e->b, rate ? lim->connect_rate_per_ip : 1e9,
                          rate ? (lim->connect_burst_per_ip ? lim->connect_burst_per_ip : 1) : 1e9,
                          now);
        e->next = *pp;
        *pp = e;
        l->nips++;
    }
    if (lim->max_connections_per_ip && e->conns >= lim->max_connections_per_ip)
        rc = PT_EFULL;
    else if (!route_bucket_take(&e->b, now))
        rc = PT_EAGAIN;
    else
        e->conns++;
    pthread_mutex_unlock(&l->ip_mu);
    return rc;
}

void gw_limits_ip_release(gw_limits_t *l, const char *ip)
{
    if (!ip_limits_on(l->lim))
        return;
    uint64_t h = str_hash(ip, 1469598103934665603ull);
    int64_t now = time_mono_us();
    pthread_mutex_lock(&l->ip_mu);
    for (lim_ip_t **pp = &l->ips[h % LIM_BUCKETS]; *pp; pp = &(*pp)->next) {
        lim_ip_t *e = *pp;
        if (strcmp(e->ip, ip) != 0)
            continue;
        if (e->conns)
            e->conns--;
        /* Forget an address with nothing open once its bucket has refilled. */
        double t = e->b.tokens + (double)(now - e->b.last_us) * e->b.rate / 1e6;
        if (e->conns == 0 && t >= e->b.burst) {
            *pp = e->next;
            free(e);
            l->nips--;
        }
        break;
    }
    pthread_mutex_unlock(&l->ip_mu);
}

/* ---- usage plans: per-key throttles and quotas ----------------------------------------------- */

/*
 * State per (plan, key): the plan's bucket, a bucket per route the plan throttles, and the quota
 * counter. Counters are read from LMDB on first use and written back (the dirty ones, in one
 * transaction) at most once a second by whichever worker counts, and at shutdown
 * (gw_limits_flush), so a restart does not reset a quota and a crash loses at most a second.
 */

static lim_plan_t **plans_slot(gw_limits_t *l, const route_usage_plan_t *p, const route_apikey_t *k)
{
    uint64_t h = ((uint64_t)(uintptr_t)p * 31u) ^ (uint64_t)(uintptr_t)k;
    return &l->plans[(h >> 4) % LIM_BUCKETS];
}

/* Writes the dirty counters (lock held). */
static void plans_flush_locked(gw_limits_t *l, store_t *st)
{
    const char *keys[64];
    store_quota_t vals[64];
    size_t n = 0;
    for (size_t i = 0; i < LIM_BUCKETS; i++) {
        for (lim_plan_t *e = l->plans[i]; e; e = e->next) {
            if (!e->dirty)
                continue;
            keys[n] = e->skey;
            vals[n].window_start = e->q.window_start;
            vals[n].used = e->q.used;
            e->dirty = false;
            if (++n == PT_ARRAY_LEN(keys)) {
                store_quota_put(st, keys, vals, n);
                n = 0;
            }
        }
    }
    if (n)
        store_quota_put(st, keys, vals, n);
    l->flushed_us = time_mono_us();
}

void gw_limits_flush(gw_limits_t *l, store_t *st)
{
    pthread_mutex_lock(&l->plan_mu);
    plans_flush_locked(l, st);
    pthread_mutex_unlock(&l->plan_mu);
}

int gw_limits_plan_take(gw_limits_t *l, store_t *st, const route_usage_plan_t *plan,
                        const route_plan_stage_t *ps, const route_apikey_t *key,
                        const char *route_key)
{
    int64_t now = time_mono_us();
    int rc = PT_OK;
    pthread_mutex_lock(&l->plan_mu);
    lim_plan_t **pp = plans_slot(l, plan, key), *e;
    for (e = *pp; e; e = e->next)
        if (e->plan == plan && e->key == key)
            break;
    if (!e) {
        e = pt_xcalloc(1, sizeof *e);
        e->plan = plan;
        e->key = key;
        snprintf(e->skey, sizeof e->skey, "%s/%s", plan->id, key->id);
        route_bucket_init(&e->b, plan->throttle.rate, plan->throttle.burst, now);
        store_quota_t q;
        if (plan->quota_period != ROUTE_QUOTA_NONE && store_quota_get(st, e->skey, &q) == PT_OK) {
            e->q.window_start = q.window_start;
            e->q.used = q.used;
        }
        e->next = *pp;
        *pp = e;
    }
    /* Throttles first: the route's limit within the plan, then the plan's. */
    const route_plan_method_t *m = route_plan_method(ps, route_key);
    route_bucket_t *mb = NULL;
    if (m && m->throttle.set) {
        lim_mbucket_t *x;
        for (x = e->methods; x && x->m != m; x = x->next)
            ;
        if (!x) {
            x = pt_xcalloc(1, sizeof *x);
            x->m = m;
            route_bucket_init(&x->b, m->throttle.rate, m->throttle.burst, now);
            x->next = e->methods;
            e->methods = x;
        }
        mb = &x->b;
        if (!route_bucket_take(mb, now)) {
            rc = PT_EFULL;
            goto out;
        }
    }
    if (plan->throttle.set && !route_bucket_take(&e->b, now)) {
        if (mb)
            route_bucket_give(mb);
        rc = PT_EFULL;
        goto out;
    }
    if (plan->quota_period != ROUTE_QUOTA_NONE) {
        if (!route_quota_take(plan->quota_period, plan->quota_offset, plan->quota_limit, &e->q,
                              time_now_ms() / 1000)) {
            rc = PT_EEXPIRED; /* the quota of this window is spent */
            goto out;
        }
        e->dirty = true;
        if (now - l->flushed_us > 1000000)
            plans_flush_locked(l, st);
    }
out:
    pthread_mutex_unlock(&l->plan_mu);
    return rc;
}
