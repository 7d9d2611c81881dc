/* cors.c: CORS for HTTP APIs (apigatewayv2 corsConfiguration): preflights and response headers. */
#include "routes/route_internal.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * AWS's rules ("Configure CORS for HTTP APIs", http-api-cors):
 *   - With corsConfiguration set, the gateway answers preflight OPTIONS requests itself, even
 *     without an OPTIONS route, and adds the configured headers to integration responses.
 *   - It ignores CORS headers the integration returns (they are removed here).
 *   - A request gets CORS headers only when it carries Origin; a preflight needs Origin and
 *     Access-Control-Request-Method.
 *   - allowOrigins entries: an origin, "*", or a scheme followed by "*" ("https://" + "*":
 *     any origin of that scheme).
 * Undocumented, chosen here [U]: the preflight answer is 204 with no body (what HTTP APIs are
 * seen to answer); a preflight from an origin that is not allowed still gets 204, without any
 * CORS header, so the browser refuses it; Access-Control-Allow-Origin is "*" when "*" is allowed
 * and credentials are not, else the request's Origin echoed with Vary: Origin; with
 * allowCredentials, a "*" in allowMethods or allowHeaders is answered with the requested
 * method or headers, because browsers take "*" literally on credentialed requests (Fetch
 * standard, CORS protocol). Lists are joined with ",". Header names are lower case, as HTTP
 * APIs send them.
 */

static bool has_star(char *const *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i], "*") == 0)
            return true;
    return false;
}

bool route_cors_origin_allowed(const route_cors_t *c, const char *o, size_t n)
{
    if (!c || !o || n == 0)
        return false;
    for (size_t i = 0; i < c->nallow_origins; i++) {
        const char *a = c->allow_origins[i];
        size_t al = strlen(a);
        if (strcmp(a, "*") == 0)
            return true;
        if (al >= 2 && a[al - 1] == '*' && a[al - 2] == '/') { /* "https://" + "*" */
            if (n > al - 1 && strncasecmp(o, a, al - 1) == 0)
                return true;
            continue;
        }
        if (al == n && strncasecmp(o, a, n) == 0)
            return true;
    }
    return false;
}

bool route_cors_is_cors_header(const char *name, size_t n)
{
    return n > 15 && strncasecmp(name, "access-control-", 15) == 0;
}

static void join(char *const *l, size_t n, buf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(out, ',');
        buf_puts(out, l[i]);
    }
}

/* Adds Access-Control-Allow-Origin (+ Vary) and -Allow-Credentials for an allowed origin. */
static void origin_headers(const route_cors_t *c, const char *o, size_t n, route_http_response_t *r)
{
    if (has_star(c->allow_origins, c->nallow_origins) && !c->allow_credentials) {
        route_http_response_header(r, "access-control-allow-origin", "*", 1);
    } else {
        route_http_response_header(r, "access-control-allow-origin", o, n);
        route_http_response_header(r, "vary", "Origin", 6);
    }
    if (c->allow_credentials)
        route_http_response_header(r, "access-control-allow-credentials", "true", 4);
}

void route_cors_preflight(const route_cors_t *c, const char *origin, size_t olen,
                          const char *method, size_t mlen, const char *hdrs, size_t hlen,
                          route_http_response_t *out)
{
    buf_t v = BUF_INIT;

    out->status = 204;
    if (!route_cors_origin_allowed(c, origin, olen))
        return;
    origin_headers(c, origin, olen, out);
    if (c->nallow_methods) {
        if (has_star(c->allow_methods, c->nallow_methods) && c->allow_credentials && method)
            buf_append(&v, method, mlen);
        else if (has_star(c->allow_methods, c->nallow_methods))
            buf_putc(&v, '*');
        else
            join(c->allow_methods, c->nallow_methods, &v);
        if (v.len)
            route_http_response_header(out, "access-control-allow-methods", v.p, v.len);
        buf_reset(&v);
    }
    if (c->nallow_headers) {
        if (has_star(c->allow_headers, c->nallow_headers) && c->allow_credentials)
            buf_append(&v, hdrs ? hdrs : "", hdrs ? hlen : 0);
        else if (has_star(c->allow_headers, c->nallow_headers))
            buf_putc(&v, '*');
        else
            join(c->allow_headers, c->nallow_headers, &v);
        if (v.len)
            route_http_response_header(out, "access-control-allow-headers", v.p, v.len);
        buf_reset(&v);
    }
    if (c->has_max_age) {
        buf_printf(&v, "%d", c->max_age);
        route_http_response_header(out, "access-control-max-age", v.p, v.len);
    }
    buf_free(&v);
}

void route_cors_apply(const route_cors_t *c, const char *origin, size_t olen,
                      route_http_response_t *r)
{
    if (!c)
        return;
    size_t o = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (route_cors_is_cors_header(r->headers[i].key, strlen(r->headers[i].key))) {
            free(r->headers[i].key);
            free(r->headers[i].val);
            continue;
        }
        r->headers[o++] = r->headers[i];
    }
    r->nheaders = o;
    if (!route_cors_origin_allowed(c, origin, olen))
        return;
    origin_headers(c, origin, olen, r);
    if (c->nexpose_headers) {
        buf_t v = BUF_INIT;
        join(c->expose_headers, c->nexpose_headers, &v);
        route_http_response_header(r, "access-control-expose-headers", v.p, v.len);
        buf_free(&v);
    }
}
