/* fuzz_http_route.c: HTTP API route keys and the route matcher (routes/http_match.c). */
/*
 * Input format: lines. Up to the first empty line, each line is a route key ("GET /a/{b}",
 * "ANY /{proxy+}", "$default", or anything); the lines after it are requests, "METHOD PATH".
 * Keys that route_http_key_check refuses are skipped; a set with overlapping keys is refused
 * by route__http_compile and then only checked for a clean failure.
 *
 * Invariants, for every request: the match is deterministic; a matched route's method is the
 * request's or ANY (or it is $default); every path variable points inside the path, is not
 * empty, and has no '/' unless it is the greedy one; the winner of the whole table also wins
 * against each other route alone (the precedence is a total order, so no table can make it
 * depend on the order of the routes).
 */
#include "routes/route_internal.h"
#include "common/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROUTES 24

static route_route_t routes[MAX_ROUTES];
static char keys[MAX_ROUTES][257];

static void api_init(route_api_t *api, route_route_t *rs, size_t n)
{
    memset(api, 0, sizeof *api);
    api->id = (char *)"fuzzapi001";
    api->protocol = ROUTE_PROTO_HTTP;
    api->routes = rs;
    api->nroutes = n;
    route__api_index(api);
}

static void api_free(route_api_t *api)
{
    route__http_free(api);
    route__api_index_free(api);
}

static size_t count_vars(const char *key)
{
    size_t n = 0;
    for (const char *p = key; *p; p++)
        n += *p == '{';
    return n;
}

static void check(const route_api_t *api, const char *m, size_t ml, const char *path, size_t pl)
{
    route_http_match_t a, b;
    route_http_match(api, m, ml, path, pl, &a);
    route_http_match(api, m, ml, path, pl, &b);
    if (a.route != b.route || a.nparams != b.nparams)
        abort();
    if (!a.route)
        return;
    const char *k = a.route->key;
    if (strcmp(k, "$default") == 0) {
        if (a.nparams)
            abort();
        return;
    }
    size_t kml = (size_t)(strchr(k, ' ') - k);
    if (!(kml == 3 && memcmp(k, "ANY", 3) == 0) && (kml != ml || memcmp(k, m, ml) != 0))
        abort();
    if (a.nparams != count_vars(k))
        abort();
    for (size_t i = 0; i < a.nparams; i++) {
        const route_http_param_t *p = &a.params[i];
        if (p->raw < path || p->raw + p->raw_len > path + pl || p->raw_len == 0)
            abort();
        char want[80];
        snprintf(want, sizeof want, "{%s+}", p->name);
        bool greedy = strstr(k, want) != NULL;
        if (!greedy && memchr(p->raw, '/', p->raw_len))
            abort();
    }
    /* Pairwise: the winner beats each other route on its own. */
    size_t wi = (size_t)(a.route - api->routes);
    for (size_t i = 0; i < api->nroutes; i++) {
        if (i == wi)
            continue;
        route_route_t two[2] = {api->routes[wi], api->routes[i]};
        route_api_t sub;
        api_init(&sub, two, 2);
        if (route__http_compile(&sub, NULL) == PT_OK) {
            route_http_match_t c;
            route_http_match(&sub, m, ml, path, pl, &c);
            if (!c.route || strcmp(c.route->key, k) != 0)
                abort();
        }
        api_free(&sub);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *end = s + size;
    size_t n = 0;
    route_api_t api;

    if (size > 4096)
        return 0;
    /* Keys. */
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        const char *next = nl ? nl + 1 : end;
        if (len == 0) {
            s = next;
            break;
        }
        if (n < MAX_ROUTES && len < sizeof keys[0] && !memchr(s, '\0', len)) {
            memcpy(keys[n], s, len);
            keys[n][len] = '\0';
            if (route_http_key_check(keys[n], NULL) == PT_OK) {
                memset(&routes[n], 0, sizeof routes[n]);
                routes[n].key = keys[n];
                for (size_t j = 0; j < n; j++) /* the loader refuses duplicates earlier */
                    if (strcmp(keys[j], keys[n]) == 0)
                        goto skip;
                n++;
            }
        }
    skip:
        s = next;
    }
    api_init(&api, routes, n);
    buf_t err = BUF_INIT;
    if (route__http_compile(&api, &err) != PT_OK) {
        if (!err.p)
            abort(); /* a refusal always says why */
        buf_free(&err);
        api_free(&api);
        return 0;
    }
    buf_free(&err);
    /* Requests. */
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        const char *sp = memchr(s, ' ', len);
        if (sp)
            check(&api, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp - s) - 1);
        else
            check(&api, "GET", 3, s, len);
        s = nl ? nl + 1 : end;
    }
    api_free(&api);
    return 0;
}
