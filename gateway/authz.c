/* authz.c: authorizers in the gateway: the REQUEST authorizer call and the result cache. */
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
 * The decisions are routes/authz.c's (events, outputs, policy evaluation); this file moves
 * them: it builds the authorizer's request (a Lambda Invoke, signed like an AWS_PROXY
 * integration's, or a POST to an http(s) URL) and keeps results by identity sources for
 * authorizerResultTtlInSeconds (docs/security.md).
 *
 * The cache is shared by every worker (one lock): a client reconnecting lands on any worker,
 * and the point of the cache is that the authorizer is called once per identity per TTL, not
 * once per worker. Entries hold the verdict and requestContext.authorizer as JSON text, so no
 * jansson object crosses threads. Only verdicts of a working authorizer are kept (allowed and
 * denied by policy); "Unauthorized" and failures are asked again, as AWS does.
 */

#define AZC_BUCKETS     4096
#define AZC_MAX_ENTRIES 65536 /* past it the cache is emptied: bounded memory, never wrong */

typedef struct azc_entry {
    struct azc_entry *next;
    uint64_t hash;
    int64_t expires_ms; /* monotonic */
    int status;         /* 200 or 403 */
    char *context;      /* owned: requestContext.authorizer as JSON text, NULL when none */
    size_t key_len;
    char key[]; /* authorizer id, API, stage and identity values, NUL-separated */
} azc_entry_t;

/*
 * One entry per JWT authorizer, in the same locked structure: the set as text (parsed by each
 * request that needs it, so no jansson tree is shared between threads), when it was fetched,
 * and the jwks_uri found by OpenID discovery. A jwksFile is read once, on first use.
 */
struct gw_jwks {
    struct gw_jwks *next;
    const void *owner; /* the route_authorizer_t */
    char *text;        /* owned, NULL until fetched */
    char *uri;         /* owned: discovered jwks_uri, NULL when none */
    int64_t fetched_ms;
};

struct gw_azcache {
    pthread_mutex_t mu;
    uint64_t seed; /* clients choose the keys: a per-process seed keeps chains short */
    azc_entry_t *b[AZC_BUCKETS];
    size_t count;
    _Atomic uint64_t hits;
    _Atomic uint64_t misses;
    struct gw_jwks *jwks; /* JWT authorizers' key sets (below) */
};

static uint64_t azc_hash(const gw_azcache_t *c, const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ c->seed; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

gw_azcache_t *gw_azc_create(uint64_t seed)
{
    gw_azcache_t *c = pt_xcalloc(1, sizeof *c);
    c->seed = seed;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void azc_clear_locked(gw_azcache_t *c)
{
    for (size_t i = 0; i < AZC_BUCKETS; i++) {
        azc_entry_t *e = c->b[i];
        while (e) {
            azc_entry_t *next = e->next;
            free(e->context);
            free(e);
            e = next;
        }
        c->b[i] = NULL;
    }
    c->count = 0;
}

void gw_azc_destroy(gw_azcache_t *c)
{
    if (!c)
        return;
    azc_clear_locked(c);
    while (c->jwks) {
        struct gw_jwks *e = c->jwks;
        c->jwks = e->next;
        free(e->text);
        free(e->uri);
        free(e);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void gw_azc_stats(const gw_azcache_t *c, uint64_t *hits, uint64_t *misses)
{
    *hits = c ? atomic_load(&c->hits) : 0;
    *misses = c ? atomic_load(&c->misses) : 0;
}

int gw_azc_get(gw_azcache_t *c, const char *key, size_t key_len, int64_t now_ms, int *status,
               json_t **context)
{
    uint64_t h = azc_hash(c, key, key_len);
    char *text = NULL;
    int rc = PT_ENOTFOUND;
    pthread_mutex_lock(&c->mu);
    azc_entry_t **pp = &c->b[h % AZC_BUCKETS];
    while (*pp) {
        azc_entry_t *e = *pp;
        if (e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            if (e->expires_ms <= now_ms) { /* expired: drop it and call again */
                *pp = e->next;
                c->count--;
                free(e->context);
                free(e);
                break;
            }
            *status = e->status;
            text = e->context ? pt_xstrdup(e->context) : NULL;
            rc = PT_OK;
            break;
        }
        pp = &e->next;
    }
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_add(rc == PT_OK ? &c->hits : &c->misses, 1);
    *context = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return rc;
}

void gw_azc_put(gw_azcache_t *c, const char *key, size_t key_len, int64_t now_ms, int ttl_s,
                int status, const json_t *context)
{
    if (ttl_s <= 0)
        return;
    azc_entry_t *n = pt_xmalloc(sizeof *n + key_len);
    n->hash = azc_hash(c, key, key_len);
    n->expires_ms = now_ms + (int64_t)ttl_s * 1000;
    n->status = status;
    n->context = context ? json_dumps(context, JSON_COMPACT) : NULL;
    n->key_len = key_len;
    memcpy(n->key, key, key_len);
    pthread_mutex_lock(&c->mu);
    azc_entry_t **pp = &c->b[n->hash % AZC_BUCKETS];
    while (*pp) { /* replace an older result for the same identity */
        azc_entry_t *e = *pp;
        if (e->hash == n->hash && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            *pp = e->next;
            c->count--;
            free(e->context);
            free(e);
            break;
        }
        pp = &e->next;
    }
    if (c->count >= AZC_MAX_ENTRIES)
        azc_clear_locked(c);
    pp = &c->b[n->hash % AZC_BUCKETS];
    n->next = *pp;
    *pp = n;
    c->count++;
    pthread_mutex_unlock(&c->mu);
}

/* ---- the authorizer's request ---------------------------------------------------------------- */

int gw_az_request(gw_worker_t *w, const route_authorizer_t *a, const route_stage_t *stage,
                  buf_t *event, route_http_req_t *hr, buf_t *err)
{
    buf_t uri = BUF_INIT;
    int rc = PT_OK;
    memset(hr, 0, sizeof *hr);
    route_subst_stage_vars(a->uri ? a->uri : "", stage, &uri);
    if (route_lambda_is_ref(uri.p)) {
        rc = route_lambda_request(a->uri, stage, &w->srv->aws.lambda, hr, err);
        if (rc != PT_OK)
            goto out;
    } else {
        /* An http(s) authorizer gets the event as a JSON POST and answers with the output. */
        hr->method = pt_xstrdup("POST");
        hr->url = buf_steal(&uri, NULL);
        buf_puts(&hr->headers, "Content-Type: application/json\r\n");
    }
    hr->body = buf_steal(event, &hr->body_len);
    hr->timeout_ms = a->timeout_ms;
    if (hr->sign_service)
        rc = gw_aws_sign(&w->srv->aws, &w->sigv4_cache, hr, time_now_ms() / 1000, err);
    if (rc != PT_OK)
        route_http_req_free(hr);
out:
    buf_free(&uri);
    return rc;
}

const char *gw_az_body(int status, size_t *len)
{
    static const char unauth[] = "{\"message\":\"Unauthorized\"}";
    static const char forbidden[] = "{\"message\":\"Forbidden\"}";
    static const char error[] = "{\"message\":\"Internal Server Error\"}";
    const char *b = status == 401 ? unauth : status == 403 ? forbidden : error;
    *len = strlen(b);
    return b;
}

/* ---- JWK sets of JWT authorizers ----------------------------------------------------------- */

static struct gw_jwks *jwks_entry_locked(gw_azcache_t *c, const void *owner)
{
    for (struct gw_jwks *e = c->jwks; e; e = e->next)
        if (e->owner == owner)
            return e;
    struct gw_jwks *e = pt_xcalloc(1, sizeof *e);
    e->owner = owner;
    e->next = c->jwks;
    c->jwks = e;
    return e;
}

/* Reads a local JWK set (bounded: 1 MB). NULL when it cannot be read. */
static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1u << 20))
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b, NULL);
}

int gw_jwks_get(gw_azcache_t *c, const route_authorizer_t *a, char **text, int64_t *fetched_ms)
{
    char *file_text = NULL;
    pthread_mutex_lock(&c->mu);
    struct gw_jwks *e = jwks_entry_locked(c, a);
    if (!e->text && a->jwks_file) {
        pthread_mutex_unlock(&c->mu);
        file_text = read_small_file(a->jwks_file); /* once, small, local */
        pthread_mutex_lock(&c->mu);
        if (!e->text && file_text) {
            e->text = file_text;
            e->fetched_ms = time_mono_ms();
            file_text = NULL;
        }
    }
    *text = e->text ? pt_xstrdup(e->text) : NULL;
    *fetched_ms = e->fetched_ms;
    pthread_mutex_unlock(&c->mu);
    free(file_text);
    return *text ? PT_OK : PT_ENOTFOUND;
}

void gw_jwks_set(gw_azcache_t *c, const route_authorizer_t *a, const char *text, size_t len,
                 int64_t now_ms)
{
    char *copy = pt_xstrndup(text, len);
    pthread_mutex_lock(&c->mu);
    struct gw_jwks *e = jwks_entry_locked(c, a);
    free(e->text);
    e->text = copy;
    e->fetched_ms = now_ms;
    pthread_mutex_unlock(&c->mu);
}

char *gw_jwks_uri(gw_azcache_t *c, const route_authorizer_t *a)
{
    if (a->jwks_uri)
        return pt_xstrdup(a->jwks_uri);
    pthread_mutex_lock(&c->mu);
    struct gw_jwks *e = jwks_entry_locked(c, a);
    char *u = e->uri ? pt_xstrdup(e->uri) : NULL;
    pthread_mutex_unlock(&c->mu);
    return u;
}

void gw_jwks_set_uri(gw_azcache_t *c, const route_authorizer_t *a, const char *uri)
{
    char *copy = pt_xstrdup(uri);
    pthread_mutex_lock(&c->mu);
    struct gw_jwks *e = jwks_entry_locked(c, a);
    free(e->uri);
    e->uri = copy;
    pthread_mutex_unlock(&c->mu);
}

/* ---- AWS_IAM --------------------------------------------------------------------------------- */

static const sigv4_cred_t *iam_lookup(void *ctx, const char *akid, size_t n)
{
    const gw_server_t *srv = ctx;
    for (size_t i = 0; i < srv->cbcfg.ncreds; i++) {
        const char *k = srv->cbcreds[i].sig.access_key_id;
        if (strlen(k) == n && memcmp(k, akid, n) == 0)
            return &srv->cbcreds[i].sig;
    }
    return NULL;
}

int gw_iam_check(gw_worker_t *w, const http_request_t *req, const void *body, size_t body_len,
                 const char *arn, const char **error_type, buf_t *msg)
{
    gw_server_t *srv = w->srv;
    sigv4_request_t sreq = {
        .method = req->method,
        .method_len = req->method_len,
        .target = req->target,
        .target_len = req->target_len,
        .headers = req->headers,
        .nheaders = req->nheaders,
        .body = body,
        .body_len = body_len,
    };
    sigv4_verify_opts_t o = {
        .service = "execute-api",
        .region = srv->cfg->server.region,
        .now = time_now_ms() / 1000,
        .max_skew_seconds = 300,
        .accept_single_encoding = true,
        .lookup = iam_lookup,
        .lookup_ctx = srv,
        .cache = &w->sigv4_cache,
    };
    sigv4_result_t res;
    memset(&res, 0, sizeof res);
    int status = 403;
    if (sigv4_verify(&sreq, &o, &res) != PT_OK) {
        *error_type = res.error_type && *res.error_type ? res.error_type : "ForbiddenException";
        buf_puts(msg, res.message.p ? res.message.p : "Forbidden");
        goto out;
    }
    /* The signer is known; now IAM's part: may it invoke this resource? cbcreds[i] was built
     * from server.credentials[i] (server.c). */
    size_t i = (size_t)((const cb_cred_t *)res.cred - srv->cbcreds);
    const route_credential_t *cred = &srv->cfg->server.credentials[i];
    for (size_t k = 0; k < cred->ninvoke_resources; k++) {
        if (route_wildcard_match(cred->invoke_resources[k], arn)) {
            status = 200;
            goto out;
        }
    }
    *error_type = "AccessDeniedException";
    buf_printf(msg,
               "User: arn:aws:iam::%s:user/%s is not authorized to perform: execute-api:Invoke "
               "on resource: %s",
               srv->cfg->server.account_id, cred->access_key_id, arn);
out:
    buf_free(&res.message);
    return status;
}

/* ---- API keys ------------------------------------------------------------------------------ */

int gw_apikey_check(gw_worker_t *w, const route_api_t *api, const route_stage_t *stage,
                    const char *route_key, const http_header_t *headers, size_t nheaders,
                    const char *usage_key, const char **message)
{
    gw_server_t *srv = w->srv;
    const route_apikey_t *key;
    const route_usage_plan_t *plan;
    const route_plan_stage_t *ps;
    size_t len;
    const char *v = route_apikey_select(api, headers, nheaders, usage_key, &len);
    if (route_apikey_lookup(srv->cfg->security, v, len, api, stage, &key, &plan, &ps) != PT_OK) {
        *message = "Forbidden"; /* missing, unknown, disabled, or in no plan of this stage */
        return 403;
    }
    int rc = gw_limits_plan_take(srv->limiter, srv->store, plan, ps, key, route_key);
    if (rc == PT_EFULL) {
        *message = "Too Many Requests";
        return 429;
    }
    if (rc != PT_OK) {
        *message = "Limit Exceeded";
        return 429;
    }
    return 200;
}

/* ---- resource policies ----------------------------------------------------------------------- */

int gw_policy_check(gw_server_t *srv, const route_api_t *api, const char *arn, const char *ip,
                    buf_t *msg)
{
    if (!api->policy)
        return 200;
    buf_t api_arn = BUF_INIT;
    route_arn_api(srv->cfg->server.region, srv->cfg->server.account_id, api->id, &api_arn);
    route_effect_t e = route_policy_eval(api->policy, "execute-api:Invoke", arn, api_arn.p, ip);
    buf_free(&api_arn);
    /* An explicit Deny always wins; without one, a policy that allows something must allow
     * this (an implicit deny), while a policy made only of Deny statements lets the rest in. */
    if (e == ROUTE_EFFECT_ALLOW || (e == ROUTE_EFFECT_NONE && !route_policy_has_allow(api->policy)))
        return 200;
    buf_printf(msg,
               "User: anonymous is not authorized to perform: execute-api:Invoke on resource: "
               "%s%s",
               arn, e == ROUTE_EFFECT_DENY ? " with an explicit deny" : "");
    return 403;
}
