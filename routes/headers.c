/* headers.c: the CONNECT header set AWS hands to integrations, header/query maps and grouping. */
#include "routes/route_internal.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

/* ---- owned key/value lists ---------------------------------------------------------------- */

void route__kvl_add(route_kvl_t *l, const char *k, size_t kl, const char *v, size_t vl)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = pt_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n].key = pt_xstrndup(k, kl);
    l->v[l->n].val = pt_xstrndup(v, vl);
    l->n++;
}

void route__kvl_del_ci(route_kvl_t *l, const char *k)
{
    size_t o = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (strcasecmp(l->v[i].key, k) == 0) {
            free(l->v[i].key);
            free(l->v[i].val);
            continue;
        }
        l->v[o++] = l->v[i];
    }
    l->n = o;
}

const char *route__kvl_last(const route_kvl_t *l, const char *k, bool ci)
{
    for (size_t i = l->n; i-- > 0;)
        if (ci ? strcasecmp(l->v[i].key, k) == 0 : strcmp(l->v[i].key, k) == 0)
            return l->v[i].val;
    return NULL;
}

void route__kvl_free(route_kvl_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].val);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* ---- the CONNECT header set (spec 2.2, 6.1) ------------------------------------------------ */

static bool is_hop_by_hop(const http_header_t *h)
{
    static const char *const hop[] = {"connection", "upgrade", "keep-alive",
                                      "te",         "trailer", "transfer-encoding"};
    for (size_t i = 0; i < PT_ARRAY_LEN(hop); i++)
        if (http_ieq(h->name, h->name_len, hop[i]))
            return true;
    return h->name_len >= 6 && strncasecmp(h->name, "proxy-", 6) == 0;
}

/* True when a Connection header names this header (RFC 9110 7.6.1: such headers are
 * hop-by-hop too). */
static bool named_by_connection(const route_ctx_t *ctx, const http_header_t *h)
{
    char name[128];
    if (h->name_len >= sizeof name)
        return false;
    memcpy(name, h->name, h->name_len);
    name[h->name_len] = '\0';
    for (size_t i = 0; i < ctx->nheaders; i++) {
        const http_header_t *c = &ctx->headers[i];
        if (http_ieq(c->name, c->name_len, "connection") &&
            http_value_has_token(c->value, c->value_len, name))
            return true;
    }
    return false;
}

void route__connect_headers(const route_ctx_t *ctx, route_kvl_t *out)
{
    buf_t xff = BUF_INIT;
    char num[16];

    if (ctx->kind != ROUTE_EV_CONNECT)
        return;
    for (size_t i = 0; i < ctx->nheaders; i++) {
        const http_header_t *h = &ctx->headers[i];
        if (is_hop_by_hop(h) || named_by_connection(ctx, h))
            continue;
        if (http_ieq(h->name, h->name_len, "x-forwarded-for")) {
            /* A proxy appends the address it saw to what the client sent. */
            if (xff.len)
                buf_puts(&xff, ", ");
            buf_append(&xff, h->value, h->value_len);
            continue;
        }
        if (http_ieq(h->name, h->name_len, "x-forwarded-port") ||
            http_ieq(h->name, h->name_len, "x-forwarded-proto") ||
            (ctx->trace_id && http_ieq(h->name, h->name_len, "x-amzn-trace-id")))
            continue;
        route__kvl_add(out, h->name, h->name_len, h->value, h->value_len);
    }
    if (ctx->source_ip) {
        if (xff.len)
            buf_puts(&xff, ", ");
        buf_puts(&xff, ctx->source_ip);
    }
    if (xff.len)
        route__kvl_add(out, "X-Forwarded-For", 15, xff.p, xff.len);
    int port = ctx->server_port > 0 ? ctx->server_port : ctx->tls ? 443 : 80;
    snprintf(num, sizeof num, "%d", port);
    route__kvl_add(out, "X-Forwarded-Port", 16, num, strlen(num));
    route__kvl_add(out, "X-Forwarded-Proto", 17, ctx->tls ? "https" : "http", ctx->tls ? 5 : 4);
    if (ctx->trace_id)
        route__kvl_add(out, "X-Amzn-Trace-Id", 15, ctx->trace_id, strlen(ctx->trace_id));
    buf_free(&xff);
}

/* ---- grouping ------------------------------------------------------------------------------ */

/* Java's String.CASE_INSENSITIVE_ORDER compares characters folded to lower case. */
static int ci_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z')
            ca += 32;
        if (cb >= 'A' && cb <= 'Z')
            cb += 32;
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

typedef struct group_ctx {
    const route_kvl_t *l;
    bool ci;
} group_ctx_t;

static int cmp_entries(const void *x, const void *y, void *arg)
{
    const group_ctx_t *g = arg;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    int c = g->ci ? ci_cmp(g->l->v[a].key, g->l->v[b].key) : strcmp(g->l->v[a].key, g->l->v[b].key);
    if (c)
        return c;
    return a < b ? -1 : a > b; /* stable: values keep their order */
}

typedef struct span {
    size_t first; /* index of the group's first entry in the list */
    size_t from, to;
} span_t;

static int cmp_spans(const void *x, const void *y)
{
    const span_t *a = x, *b = y;
    return a->first < b->first ? -1 : a->first > b->first;
}

void route__kvl_group(const route_kvl_t *l, bool ci, size_t **idx_out, size_t **starts_out,
                      size_t *ngroups)
{
    size_t n = l->n;
    size_t *idx = pt_xmalloc((n ? n : 1) * sizeof *idx);   /* owned by the caller */
    size_t *starts = pt_xmalloc((n + 1) * sizeof *starts); /* owned by the caller */
    span_t *spans = pt_xmalloc((n ? n : 1) * sizeof *spans);
    group_ctx_t g = {l, ci};
    size_t ng = 0;

    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof *idx, cmp_entries, &g);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && (ci ? ci_cmp(l->v[idx[i]].key, l->v[idx[j]].key)
                            : strcmp(l->v[idx[i]].key, l->v[idx[j]].key)) == 0)
            j++;
        spans[ng++] = (span_t){idx[i], i, j};
        i = j;
    }
    if (!ci) /* exact keys (query strings) keep the order they first appeared in */
        qsort(spans, ng, sizeof *spans, cmp_spans);
    size_t *out = pt_xmalloc((n ? n : 1) * sizeof *out);
    size_t o = 0;
    for (size_t k = 0; k < ng; k++) {
        starts[k] = o;
        for (size_t i = spans[k].from; i < spans[k].to; i++)
            out[o++] = idx[i];
    }
    starts[ng] = o;
    free(spans);
    free(idx);
    *idx_out = out;
    *starts_out = starts;
    *ngroups = ng;
}

/* ---- query strings ------------------------------------------------------------------------- */

void route__query_parse(const char *q, size_t n, route_kvl_t *out)
{
    size_t pos = 0, kl, vl;
    const char *k, *v;
    if (!q)
        return;
    char *kd = pt_xmalloc(n + 1);
    char *vd = pt_xmalloc(n + 1);
    while (http_query_next(q, n, &pos, &k, &kl, &v, &vl)) {
        long kn = http_pct_decode(k, kl, kd, true);
        long vn = http_pct_decode(v, vl, vd, true);
        route__kvl_add(out, kn >= 0 ? kd : k, kn >= 0 ? (size_t)kn : kl, vn >= 0 ? vd : v,
                       vn >= 0 ? (size_t)vn : vl);
    }
    free(kd);
    free(vd);
}

const json_t *route__ctx_body_json(const route_ctx_t *ctx, json_t **tmp)
{
    if (ctx->body_json)
        return ctx->body_json;
    if (!*tmp && ctx->kind == ROUTE_EV_MESSAGE && ctx->body && ctx->body_len)
        *tmp = json_loadb(ctx->body, ctx->body_len, JSON_DECODE_ANY, NULL);
    return *tmp;
}
