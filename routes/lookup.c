/* lookup.c: finding APIs, stages and routes; WebSocket route selection (spec 1.3). */
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

/* Open-addressing table of routeKey -> route, sized to a power of two at least twice the routes;
 * built once at config load and read-only afterwards, so workers share it without locks. */
typedef struct route_index {
    size_t mask;
    route_route_t **slots;
} route_index_t;

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void route__api_index(route_api_t *api)
{
    route__api_index_free(api);
    size_t cap = 8;
    while (cap < api->nroutes * 2)
        cap *= 2;
    route_index_t *ix = pt_xcalloc(1, sizeof *ix);
    ix->mask = cap - 1;
    ix->slots = pt_xcalloc(cap, sizeof *ix->slots);
    api->r_connect = api->r_disconnect = api->r_default = NULL;
    for (size_t i = 0; i < api->nroutes; i++) {
        route_route_t *r = &api->routes[i];
        size_t k = strlen(r->key);
        size_t s = fnv1a(r->key, k) & ix->mask;
        while (ix->slots[s])
            s = (s + 1) & ix->mask;
        ix->slots[s] = r;
        if (strcmp(r->key, "$connect") == 0)
            api->r_connect = r;
        else if (strcmp(r->key, "$disconnect") == 0)
            api->r_disconnect = r;
        else if (strcmp(r->key, "$default") == 0)
            api->r_default = r;
    }
    api->_index = ix;
}

void route__api_index_free(route_api_t *api)
{
    route_index_t *ix = api->_index;
    if (!ix)
        return;
    free(ix->slots);
    free(ix);
    api->_index = NULL;
}

route_route_t *route_find(const route_api_t *api, const char *key, size_t key_len)
{
    const route_index_t *ix = api->_index;
    if (!ix) {
        for (size_t i = 0; i < api->nroutes; i++)
            if (strlen(api->routes[i].key) == key_len &&
                memcmp(api->routes[i].key, key, key_len) == 0)
                return &api->routes[i];
        return NULL;
    }
    size_t s = fnv1a(key, key_len) & ix->mask;
    for (route_route_t *r; (r = ix->slots[s]) != NULL; s = (s + 1) & ix->mask)
        if (strlen(r->key) == key_len && memcmp(r->key, key, key_len) == 0)
            return r;
    return NULL;
}

route_api_t *route_api_find(const route_config_t *cfg, const char *api_id)
{
    for (size_t i = 0; i < cfg->napis; i++)
        if (strcmp(cfg->apis[i].id, api_id) == 0)
            return &cfg->apis[i];
    return NULL;
}

route_stage_t *route_stage_find(const route_api_t *api, const char *name, size_t name_len)
{
    for (size_t i = 0; i < api->nstages; i++)
        if (strlen(api->stages[i].name) == name_len &&
            memcmp(api->stages[i].name, name, name_len) == 0)
            return &api->stages[i];
    return NULL;
}

const route_route_t *route_ws_select(const route_api_t *api, const char *msg, size_t len,
                                     json_t **body_json)
{
    json_t *body = NULL;
    *body_json = NULL;
    if (!api->rse)
        return api->r_default;
    if (route_expr_needs_body(api->rse)) {
        /* Not JSON (or not an object/array) means $default (spec 1.3 step 2). */
        body = json_loadb(msg, len, 0, NULL);
        if (!body)
            return api->r_default;
    }
    buf_t key = BUF_INIT;
    route_expr_eval(api->rse, body, &key);
    const route_route_t *r = NULL;
    /* Custom keys cannot start with '$', so a '$' key is $default or a lifecycle route, which a
     * message never selects, whatever its body says. */
    if (key.len && key.p[0] != '$')
        r = route_find(api, key.p, key.len);
    buf_free(&key);
    *body_json = body;
    return r ? r : api->r_default;
}

void route_error_frame(const char *message, const char *connection_id, const char *request_id,
                       buf_t *out)
{
    /* Byte-exact as captured from AWS: a space after "message": and after each comma only. */
    buf_puts(out, "{\"message\": ");
    buf_json_str(out, message, strlen(message));
    buf_puts(out, ", \"connectionId\":");
    buf_json_str(out, connection_id, strlen(connection_id));
    buf_puts(out, ", \"requestId\":");
    buf_json_str(out, request_id, strlen(request_id));
    buf_putc(out, '}');
}

/* Host without its port; IPv6 brackets kept. */
static size_t host_name_len(const char *host, size_t n)
{
    const char *colon = memrchr(host, ':', n);
    const char *bracket = memrchr(host, ']', n);
    if (colon && (!bracket || colon > bracket))
        return (size_t)(colon - host);
    return n;
}

static bool ieq_n(const char *a, size_t an, const char *b)
{
    return http_ieq(a, an, b);
}

/* Splits "/{stage}{rest}" and finds the stage. */
static int stage_from_path(const route_api_t *api, const char *path, size_t n, route_target_t *out)
{
    if (n == 0 || path[0] != '/')
        return PT_ENOTFOUND;
    size_t e = 1;
    while (e < n && path[e] != '/')
        e++;
    size_t seg = e - 1;
    if (seg == 0 || seg > 384)
        return PT_ENOTFOUND;
    char name[385];
    if (http_pct_decode(path + 1, seg, name, false) < 0)
        return PT_ENOTFOUND;
    const route_stage_t *st = route_stage_find(api, name, strlen(name));
    if (!st)
        return PT_ENOTFOUND;
    out->api = api;
    out->stage = st;
    out->rest = path + e;
    out->rest_len = n - e;
    return PT_OK;
}

int route_resolve(const route_config_t *cfg, const char *host, size_t host_len, const char *path,
                  size_t path_len, route_target_t *out)
{
    memset(out, 0, sizeof *out);
    size_t hn = host ? host_name_len(host, host_len) : 0;
    const route_mapping_t *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; hn && i < cfg->server.nmappings; i++) {
        const route_mapping_t *m = &cfg->server.mappings[i];
        if (!ieq_n(host, hn, m->domain_name))
            continue;
        size_t k = strlen(m->api_mapping_key);
        if (k == 0) {
            if (!best)
                best = m;
            continue;
        }
        /* The key must be whole path segment(s): "/key" or "/key/...". */
        if (path_len >= k + 1 && path[0] == '/' && memcmp(path + 1, m->api_mapping_key, k) == 0 &&
            (path_len == k + 1 || path[k + 1] == '/') && (!best || k > best_len)) {
            best = m;
            best_len = k;
        }
    }
    if (best) {
        out->api = best->api;
        out->stage = best->stage_ref;
        out->mapping = best;
        size_t skip = best_len ? best_len + 1 : 0;
        out->rest = path + skip;
        out->rest_len = path_len - skip;
        return PT_OK;
    }
    if (hn) {
        const char *dot = memchr(host, '.', hn);
        size_t label = dot ? (size_t)(dot - host) : 0;
        for (size_t i = 0; label && i < cfg->napis; i++)
            if (strlen(cfg->apis[i].id) == label && memcmp(cfg->apis[i].id, host, label) == 0)
                return stage_from_path(&cfg->apis[i], path, path_len, out);
    }
    if (cfg->napis == 1)
        return stage_from_path(&cfg->apis[0], path, path_len, out);
    return PT_ENOTFOUND;
}
