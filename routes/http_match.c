/* http_match.c: HTTP API route keys ("METHOD /path/{param}/{proxy+}", "$default") and matching. */
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

/*
 * Precedence, as API Gateway's "Routing API requests" section for HTTP APIs gives it: a full
 * match of path and method, then a route with a greedy path variable, then $default; "the ANY
 * method matches all methods that you haven't defined for a route". Between routes that all
 * match, the path decides first, segment by segment from the left: a literal segment beats a
 * {param}, which beats a {greedy+}. Only when two paths have the same shape does the method
 * decide: a route with the request's method beats ANY. AWS's own example
 * (GET /pets/dog/1 > GET /pets/dog/{id} > GET /pets/{proxy+} > ANY /{proxy+} > $default) comes
 * out of this rule, and tests/unit/routes/test_http_match.c checks it row by row.
 *
 * Literal segments compare with the request's segments percent-decoded (AWS decodes request
 * paths before routing); path variables keep the raw text, which the gateway decodes for
 * events and substitutes as is into integration URIs. A {param} matches one non-empty segment;
 * {greedy+} matches one or more whole segments and must come last. Trailing slashes count: a
 * request for "/pets/" does not match "GET /pets" [U: AWS answers such requests 404 in every
 * report we found, which this reproduces].
 *
 * The table is compiled once at config load and read by every worker without locks.
 */

enum { SEG_LIT = 3, SEG_PARAM = 2, SEG_GREEDY = 1 };

#define MAX_SEGS 64 /* segments in a route key */

typedef struct hseg {
    int kind;
    char *text; /* decoded literal, or the variable's name */
    size_t len;
} hseg_t;

typedef struct hroute {
    route_route_t *route;
    char *method; /* NULL for ANY */
    size_t method_len;
    hseg_t *seg;
    size_t nseg;
    size_t nparams;
} hroute_t;

typedef struct http_table {
    hroute_t *v;
    size_t n;
} http_table_t;

static const char *const METHODS[] = {"ANY",   "GET",    "POST", "PUT",
                                      "PATCH", "DELETE", "HEAD", "OPTIONS"};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool lit_char(unsigned char c)
{
    /* RFC 3986 pchar without '%' (escapes are handled apart) and without the braces that
     * delimit variables. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,;=:@", c));
}

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/*
 * Parses "METHOD /path" into r (segments allocated; route_http_key_free). Returns PT_OK or
 * PT_EINVAL with the reason in err.
 */
static int parse_key(const char *key, hroute_t *r, buf_t *err)
{
    const char *sp = strchr(key, ' ');
    const char *path;
    size_t i;
    int rc = PT_OK;

    memset(r, 0, sizeof *r);
    if (!sp) {
        buf_puts(err, "must be \"$default\" or \"METHOD /path\" (e.g. \"GET /pets/{id}\")");
        return PT_EINVAL;
    }
    size_t ml = (size_t)(sp - key);
    bool known = false;
    for (i = 0; i < PT_ARRAY_LEN(METHODS); i++)
        if (strlen(METHODS[i]) == ml && memcmp(METHODS[i], key, ml) == 0)
            known = true;
    if (!known) {
        buf_printf(err,
                   "method \"%.*s\" is not one of ANY, GET, POST, PUT, PATCH, DELETE, HEAD, "
                   "OPTIONS",
                   (int)(ml > 32 ? 32 : ml), key);
        return PT_EINVAL;
    }
    if (!(ml == 3 && memcmp(key, "ANY", 3) == 0)) {
        r->method = pt_xstrndup(key, ml);
        r->method_len = ml;
    }
    path = sp + 1;
    if (path[0] != '/') {
        buf_puts(err, "the path must start with '/' (one space after the method)");
        rc = PT_EINVAL;
        goto fail;
    }
    r->seg = pt_xcalloc(MAX_SEGS, sizeof *r->seg);
    if (path[1] == '\0')
        return PT_OK; /* "GET /": no segments */
    for (const char *p = path + 1;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        hseg_t *s;
        if (n == 0) {
            buf_puts(err, "empty path segment (\"//\" or a trailing '/')");
            rc = PT_EINVAL;
            goto fail;
        }
        if (r->nseg == MAX_SEGS) {
            buf_printf(err, "more than %d path segments", MAX_SEGS);
            rc = PT_EINVAL;
            goto fail;
        }
        s = &r->seg[r->nseg++];
        if (p[0] == '{') {
            bool greedy = n >= 3 && p[n - 2] == '+';
            size_t nl = n - 2 - (greedy ? 1 : 0);
            if (p[n - 1] != '}' || nl == 0) {
                buf_printf(err, "path variable \"%.*s\" must be {name} or {name+}",
                           (int)(n > 64 ? 64 : n), p);
                rc = PT_EINVAL;
                goto fail;
            }
            for (i = 0; i < nl; i++)
                if (!name_char((unsigned char)p[1 + i])) {
                    buf_printf(err,
                               "path variable name \"%.*s\" may only hold letters, digits, "
                               "'_', '-' and '.'",
                               (int)(nl > 64 ? 64 : nl), p + 1);
                    rc = PT_EINVAL;
                    goto fail;
                }
            if (greedy && e) {
                buf_puts(err, "a greedy path variable {name+} must be the last segment");
                rc = PT_EINVAL;
                goto fail;
            }
            for (size_t k = 0; k + 1 < r->nseg; k++)
                if (r->seg[k].kind != SEG_LIT && r->seg[k].len == nl &&
                    memcmp(r->seg[k].text, p + 1, nl) == 0) {
                    buf_printf(err, "path variable {%.*s} appears twice", (int)nl, p + 1);
                    rc = PT_EINVAL;
                    goto fail;
                }
            if (r->nparams == ROUTE_HTTP_MAX_PARAMS) {
                buf_printf(err, "more than %d path variables", ROUTE_HTTP_MAX_PARAMS);
                rc = PT_EINVAL;
                goto fail;
            }
            s->kind = greedy ? SEG_GREEDY : SEG_PARAM;
            s->text = pt_xstrndup(p + 1, nl);
            s->len = nl;
            r->nparams++;
        } else {
            char *d = pt_xmalloc(n + 1);
            size_t dl = 0;
            for (i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
                    d[dl++] = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
                    i += 2;
                    continue;
                }
                if (!lit_char(c)) {
                    free(d);
                    buf_printf(err,
                               "character '%c' is not allowed in a path (variables are "
                               "whole segments: {name})",
                               c >= 0x20 && c < 0x7f ? c : '?');
                    rc = PT_EINVAL;
                    goto fail;
                }
                d[dl++] = (char)c;
            }
            d[dl] = '\0';
            s->kind = SEG_LIT;
            s->text = d;
            s->len = dl;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return PT_OK;
fail:
    for (i = 0; i < r->nseg; i++)
        free(r->seg[i].text);
    free(r->seg);
    free(r->method);
    memset(r, 0, sizeof *r);
    return rc;
}

static void hroute_free(hroute_t *r)
{
    for (size_t i = 0; i < r->nseg; i++)
        free(r->seg[i].text);
    free(r->seg);
    free(r->method);
}

int route_http_key_check(const char *key, buf_t *err)
{
    hroute_t r;
    buf_t none = BUF_INIT;
    if (strcmp(key, "$default") == 0)
        return PT_OK;
    if (key[0] == '$') {
        buf_puts(err ? err : &none, "HTTP APIs have only one special route key, \"$default\"");
        buf_free(&none);
        return PT_EINVAL;
    }
    int rc = parse_key(key, &r, err ? err : &none);
    if (rc == PT_OK)
        hroute_free(&r);
    buf_free(&none);
    return rc;
}

/* Same method and same path shape (literals equal, variables anywhere the other has one). */
static bool same_shape(const hroute_t *a, const hroute_t *b)
{
    if ((a->method == NULL) != (b->method == NULL) || a->nseg != b->nseg)
        return false;
    if (a->method && strcmp(a->method, b->method) != 0)
        return false;
    for (size_t i = 0; i < a->nseg; i++) {
        if (a->seg[i].kind != b->seg[i].kind)
            return false;
        if (a->seg[i].kind == SEG_LIT && (a->seg[i].len != b->seg[i].len ||
                                          memcmp(a->seg[i].text, b->seg[i].text, a->seg[i].len)))
            return false;
    }
    return true;
}

int route__http_compile(route_api_t *api, buf_t *err)
{
    http_table_t *t = pt_xcalloc(1, sizeof *t);
    int rc = PT_OK;

    route__http_free(api);
    t->v = pt_xcalloc(api->nroutes ? api->nroutes : 1, sizeof *t->v);
    for (size_t i = 0; i < api->nroutes; i++) {
        route_route_t *r = &api->routes[i];
        if (!r->key || strcmp(r->key, "$default") == 0)
            continue;
        hroute_t h;
        if (parse_key(r->key, &h, err) != PT_OK) {
            rc = PT_EINVAL;
            goto out;
        }
        h.route = r;
        for (size_t j = 0; j < t->n; j++)
            if (same_shape(&t->v[j], &h)) {
                buf_printf(err,
                           "routeKey \"%s\" overlaps \"%s\": the same method and path (path "
                           "variables may not differ only in their names)",
                           r->key, t->v[j].route->key);
                hroute_free(&h);
                rc = PT_EINVAL;
                goto out;
            }
        t->v[t->n++] = h;
    }
out:
    api->_http = t; /* kept even on failure so route__http_free releases it */
    return rc;
}

void route__http_free(route_api_t *api)
{
    http_table_t *t = api->_http;
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        hroute_free(&t->v[i]);
    free(t->v);
    free(t);
    api->_http = NULL;
}

/* A request path split at '/', raw. */
typedef struct rsegs {
    const char *p[MAX_SEGS + 1];
    size_t n[MAX_SEGS + 1];
    size_t count; /* MAX_SEGS + 1 means "more than MAX_SEGS" (only greedy routes may match) */
    const char *path;
    size_t path_len;
} rsegs_t;

static void split(const char *path, size_t len, rsegs_t *s)
{
    s->count = 0;
    s->path = path;
    s->path_len = len;
    if (len <= 1) /* "" or "/" */
        return;
    size_t i = 1;
    while (s->count <= MAX_SEGS) {
        size_t st = i;
        while (i < len && path[i] != '/')
            i++;
        s->p[s->count] = path + st;
        s->n[s->count] = i - st;
        s->count++;
        if (i >= len)
            break;
        i++;            /* the '/' */
        if (i == len) { /* trailing '/': an empty last segment */
            if (s->count <= MAX_SEGS) {
                s->p[s->count] = path + len;
                s->n[s->count] = 0;
                s->count++;
            }
            break;
        }
    }
}

/* Raw segment (percent-encoded) equals a decoded literal. */
static bool seg_eq(const char *raw, size_t rn, const char *lit, size_t ln)
{
    size_t j = 0;
    for (size_t i = 0; i < rn; i++, j++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '%' && i + 2 < rn && hexval(raw[i + 1]) >= 0 && hexval(raw[i + 2]) >= 0) {
            c = (unsigned char)(hexval(raw[i + 1]) * 16 + hexval(raw[i + 2]));
            i += 2;
        }
        if (j >= ln || (unsigned char)lit[j] != c)
            return false;
    }
    return j == ln;
}

/* Does r match the split path? Fills params when m is not NULL. */
static bool route_matches(const hroute_t *r, const rsegs_t *s, route_http_match_t *m)
{
    size_t i;
    for (i = 0; i < r->nseg; i++) {
        const hseg_t *g = &r->seg[i];
        if (g->kind == SEG_GREEDY) {
            /* The rest of the path from this segment on: one or more characters. */
            if (i >= s->count || i >= MAX_SEGS)
                return false;
            const char *from = s->p[i];
            size_t n = (size_t)(s->path + s->path_len - from);
            if (n == 0)
                return false;
            if (m) {
                m->params[m->nparams].name = g->text;
                m->params[m->nparams].raw = from;
                m->params[m->nparams].raw_len = n;
                m->nparams++;
            }
            return true;
        }
        if (i >= s->count || i >= MAX_SEGS)
            return false;
        if (g->kind == SEG_LIT) {
            if (!seg_eq(s->p[i], s->n[i], g->text, g->len))
                return false;
        } else {
            if (s->n[i] == 0)
                return false;
            if (m) {
                m->params[m->nparams].name = g->text;
                m->params[m->nparams].raw = s->p[i];
                m->params[m->nparams].raw_len = s->n[i];
                m->nparams++;
            }
        }
    }
    return i == s->count;
}

/* > 0 when a is more specific than b (both match the same request). */
static int compare(const hroute_t *a, const hroute_t *b)
{
    size_t n = a->nseg < b->nseg ? a->nseg : b->nseg;
    for (size_t i = 0; i < n; i++)
        if (a->seg[i].kind != b->seg[i].kind)
            return a->seg[i].kind - b->seg[i].kind;
    if (a->nseg != b->nseg) /* only when the shorter ends in a greedy variable */
        return a->nseg > b->nseg ? 1 : -1;
    return (a->method != NULL) - (b->method != NULL);
}

void route_http_match(const route_api_t *api, const char *method, size_t method_len,
                      const char *path, size_t path_len, route_http_match_t *m)
{
    const http_table_t *t = api->_http;
    const hroute_t *best = NULL;
    rsegs_t s;

    memset(m, 0, sizeof *m);
    split(path, path_len, &s);
    for (size_t i = 0; t && i < t->n; i++) {
        const hroute_t *r = &t->v[i];
        if (r->method && (r->method_len != method_len || memcmp(r->method, method, method_len)))
            continue;
        if (!route_matches(r, &s, NULL))
            continue;
        if (!best || compare(r, best) > 0)
            best = r;
    }
    if (best) {
        m->route = best->route;
        route_matches(best, &s, m);
        return;
    }
    m->route = api->r_default;
}
