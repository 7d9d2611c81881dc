/* expr.c: selection expressions (spec 1.2): compile once, evaluate per message. */
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

/*
 * An expression compiles to a list of parts, each literal text or a variable:
 *   "$request.body.action"                 -> [var body .action]
 *   "${request.body.service}/${request.body.action}" -> [var][lit "/"][var]
 *   "\$default"                             -> [lit "$default"]
 * Substitution is single-pass: evaluated text is never re-read as an expression.
 */

typedef struct part {
    char *lit; /* literal text, or NULL for a variable */
    size_t lit_len;
    route_src_t src;
    char *name; /* header/query/context/stage-variable name */
    route_path_step_t *steps;
    size_t nsteps;
} part_t;

struct route_expr {
    part_t *parts; /* owned */
    size_t n;
    bool needs_body;
};

static bool is_var_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-' || c == '[' || c == ']' || c == '\'' || c == '"' || c == '*' ||
           c == '$' || c == '@';
}

void route__path_free(route_path_step_t *steps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(steps[i].name);
    free(steps);
}

int route__path_compile(const char *p, size_t n, route_path_step_t **steps_out, size_t *nsteps)
{
    route_path_step_t *steps = NULL;
    size_t ns = 0, cap = 0;
    size_t i = 0;
    int rc = PT_OK;

    if (i < n && p[i] == '$')
        i++;
    while (i < n) {
        route_path_step_t st = {NULL, 0};
        if (p[i] == '.') {
            i++;
            size_t s = i;
            while (i < n && p[i] != '.' && p[i] != '[')
                i++;
            if (i == s) {
                rc = PT_EPARSE;
                goto fail;
            }
            st.name = pt_xstrndup(p + s, i - s);
        } else if (p[i] == '[') {
            i++;
            if (i < n && (p[i] == '\'' || p[i] == '"')) {
                char q = p[i++];
                size_t s = i;
                while (i < n && p[i] != q)
                    i++;
                if (i + 1 >= n || p[i + 1] != ']') {
                    rc = PT_EPARSE;
                    goto fail;
                }
                st.name = pt_xstrndup(p + s, i - s);
                i += 2;
            } else {
                size_t s = i, v = 0;
                while (i < n && p[i] >= '0' && p[i] <= '9' && i - s < 9)
                    v = v * 10 + (size_t)(p[i++] - '0');
                if (i == s || i >= n || p[i] != ']') {
                    rc = PT_EPARSE;
                    goto fail;
                }
                i++;
                st.index = v;
            }
        } else {
            rc = PT_EPARSE;
            goto fail;
        }
        if (ns == cap) {
            cap = cap ? cap * 2 : 4;
            steps = pt_xrealloc(steps, cap * sizeof *steps);
        }
        steps[ns++] = st;
    }
    *steps_out = steps;
    *nsteps = ns;
    return PT_OK;
fail:
    route__path_free(steps, ns);
    return rc;
}

const json_t *route__path_get(const json_t *root, const route_path_step_t *steps, size_t n)
{
    const json_t *v = root;
    for (size_t i = 0; v && i < n; i++) {
        if (steps[i].name)
            v = json_is_object(v) ? json_object_get(v, steps[i].name) : NULL;
        else
            v = json_is_array(v) ? json_array_get(v, steps[i].index) : NULL;
    }
    return v;
}

void route__json_text(const json_t *v, buf_t *out)
{
    char num[64];
    if (!v)
        return;
    switch (json_typeof(v)) {
    case JSON_STRING:
        buf_append(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        buf_puts(out, num);
        break;
    case JSON_REAL:
        /* Shortest form: 0.1, not jansson's 17-digit 0.10000000000000001. */
        route__fmt_real(json_real_value(v), num);
        buf_puts(out, num);
        break;
    case JSON_OBJECT:
        route__json_write(out, v);
        break;
    case JSON_TRUE:
        buf_puts(out, "true");
        break;
    case JSON_FALSE:
        buf_puts(out, "false");
        break;
    case JSON_NULL:
        break;
    case JSON_ARRAY: {
        /* AWS renders an array result as "[item1, item2]" (spec 1.2). */
        buf_putc(out, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                buf_puts(out, ", ");
            route__json_text(json_array_get(v, i), out);
        }
        buf_putc(out, ']');
        break;
    }
    }
}

static void parts_free(part_t *parts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(parts[i].lit);
        free(parts[i].name);
        route__path_free(parts[i].steps, parts[i].nsteps);
    }
    free(parts);
}

void route_expr_free(route_expr_t *e)
{
    if (!e)
        return;
    parts_free(e->parts, e->n);
    free(e);
}

static bool has_prefix(const char *s, size_t n, const char *pre, size_t *plen)
{
    size_t k = strlen(pre);
    if (n < k || memcmp(s, pre, k) != 0)
        return false;
    *plen = k;
    return true;
}

/* Compiles the variable text (without '$' or braces) into a part. */
static int compile_var(const char *v, size_t n, part_t *part, buf_t *err)
{
    size_t k = 0;
    memset(part, 0, sizeof *part);
    if (has_prefix(v, n, "request.body", &k) && (n == k || v[k] == '.' || v[k] == '[')) {
        part->src = ROUTE_SRC_BODY;
        if (route__path_compile(v + k, n - k, &part->steps, &part->nsteps) != PT_OK)
            goto bad_path;
        return PT_OK;
    }
    if (has_prefix(v, n, "integration.response.body", &k) &&
        (n == k || v[k] == '.' || v[k] == '[')) {
        part->src = ROUTE_SRC_INTEG_BODY;
        if (route__path_compile(v + k, n - k, &part->steps, &part->nsteps) != PT_OK)
            goto bad_path;
        return PT_OK;
    }
    static const struct {
        const char *prefix;
        route_src_t src;
        bool named;
    } named[] = {
        {"request.header.", ROUTE_SRC_HEADER, true},
        {"request.querystring.", ROUTE_SRC_QUERY, true},
        {"context.", ROUTE_SRC_CONTEXT, true},
        {"stageVariables.", ROUTE_SRC_STAGEVAR, true},
        {"integration.response.header.", ROUTE_SRC_INTEG_HEADER, true},
        {"integration.response.statuscode", ROUTE_SRC_INTEG_STATUS, false},
        {"response.statuscode", ROUTE_SRC_INTEG_STATUS, false},
        {"request.method", ROUTE_SRC_METHOD, false},
        {"request.path", ROUTE_SRC_PATH, false},
        {"request.basepath", ROUTE_SRC_BASEPATH, false},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(named); i++) {
        if (!has_prefix(v, n, named[i].prefix, &k))
            continue;
        if (named[i].named) {
            if (n == k)
                break;
            part->name = pt_xstrndup(v + k, n - k);
        } else if (n != k) {
            continue;
        }
        part->src = named[i].src;
        return PT_OK;
    }
    if (err)
        buf_printf(err, "unsupported variable '$%.*s'", (int)n, v);
    return PT_EPARSE;
bad_path:
    if (err)
        buf_printf(err, "malformed JSONPath in '$%.*s'", (int)n, v);
    return PT_EPARSE;
}

int route_expr_compile(const char *text, route_expr_t **out, buf_t *err)
{
    route_expr_t *e = pt_xcalloc(1, sizeof *e);
    size_t cap = 0;
    buf_t lit = BUF_INIT;
    const char *p = text;
    int rc = PT_OK;

#define PUSH_PART(pt)                                                                              \
    do {                                                                                           \
        if (e->n == cap) {                                                                         \
            cap = cap ? cap * 2 : 4;                                                               \
            e->parts = pt_xrealloc(e->parts, cap * sizeof *e->parts);                              \
        }                                                                                          \
        e->parts[e->n++] = (pt);                                                                   \
    } while (0)
#define FLUSH_LIT()                                                                                \
    do {                                                                                           \
        if (lit.len) {                                                                             \
            part_t lp = {0};                                                                       \
            lp.lit = buf_steal(&lit, &lp.lit_len);                                                 \
            PUSH_PART(lp);                                                                         \
        }                                                                                          \
    } while (0)

    while (*p) {
        if (p[0] == '\\' && p[1] == '$') {
            buf_putc(&lit, '$');
            p += 2;
            continue;
        }
        if (p[0] != '$') {
            buf_putc(&lit, *p++);
            continue;
        }
        part_t part;
        if (p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                if (err)
                    buf_printf(err, "'${' without a closing '}'");
                rc = PT_EPARSE;
                goto fail;
            }
            FLUSH_LIT();
            rc = compile_var(p + 2, (size_t)(end - p - 2), &part, err);
            if (rc != PT_OK)
                goto fail;
            p = end + 1;
        } else {
            size_t n = 1;
            while (p[n] && is_var_char(p[n]) && p[n] != '$')
                n++;
            if (n == 1) {
                if (err)
                    buf_printf(err, "'$' must start a variable (write '\\$' for a dollar sign)");
                rc = PT_EPARSE;
                goto fail;
            }
            /* A trailing '.' ends the sentence, not the path: "$request.body.a." */
            while (n > 2 && p[n - 1] == '.')
                n--;
            FLUSH_LIT();
            rc = compile_var(p + 1, n - 1, &part, err);
            if (rc != PT_OK)
                goto fail;
            p += n;
        }
        if (part.src == ROUTE_SRC_BODY)
            e->needs_body = true;
        PUSH_PART(part);
    }
    FLUSH_LIT();
#undef PUSH_PART
#undef FLUSH_LIT
    *out = e;
    return PT_OK;
fail:
    buf_free(&lit);
    route_expr_free(e);
    *out = NULL;
    return rc;
}

bool route_expr_needs_body(const route_expr_t *e)
{
    return e->needs_body;
}

static const http_header_t *find_hdr(const http_header_t *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (http_ieq(h[i].name, h[i].name_len, name))
            return &h[i];
    return NULL;
}

static void eval_query(const route_ctx_t *ctx, const char *name, buf_t *out)
{
    if (!ctx || !ctx->query)
        return;
    size_t pos = 0, kl, vl;
    const char *k, *v;
    const char *found = NULL;
    size_t found_len = 0;
    size_t nl = strlen(name);
    while (http_query_next(ctx->query, ctx->query_len, &pos, &k, &kl, &v, &vl)) {
        char kd[256];
        if (kl >= sizeof kd || http_pct_decode(k, kl, kd, true) < 0)
            continue;
        if (strlen(kd) == nl && memcmp(kd, name, nl) == 0) {
            found = v; /* the last value wins, as REST v1 single-value maps */
            found_len = vl;
        }
    }
    if (found) {
        char *d = pt_xmalloc(found_len + 1);
        if (http_pct_decode(found, found_len, d, true) >= 0)
            buf_puts(out, d);
        free(d);
    }
}

void route__expr_eval_env(const route_expr_t *e, const route_expr_env_t *env, buf_t *out)
{
    for (size_t i = 0; i < e->n; i++) {
        const part_t *p = &e->parts[i];
        if (p->lit) {
            buf_append(out, p->lit, p->lit_len);
            continue;
        }
        const route_ctx_t *ctx = env->ctx;
        switch (p->src) {
        case ROUTE_SRC_BODY:
            route__json_text(route__path_get(env->body, p->steps, p->nsteps), out);
            break;
        case ROUTE_SRC_INTEG_BODY:
            route__json_text(route__path_get(env->integ_body, p->steps, p->nsteps), out);
            break;
        case ROUTE_SRC_HEADER:
            if (ctx) {
                const http_header_t *h = find_hdr(ctx->headers, ctx->nheaders, p->name);
                if (h)
                    buf_append(out, h->value, h->value_len);
            }
            break;
        case ROUTE_SRC_QUERY:
            eval_query(ctx, p->name, out);
            break;
        case ROUTE_SRC_CONTEXT:
            if (ctx)
                route_ctx_var(ctx, p->name, strlen(p->name), out);
            break;
        case ROUTE_SRC_STAGEVAR:
            if (ctx && ctx->stage) {
                const char *v = route_map_get(&ctx->stage->variables, p->name);
                if (v)
                    buf_puts(out, v);
            }
            break;
        case ROUTE_SRC_INTEG_STATUS:
            if (env->integ_status)
                buf_printf(out, "%d", env->integ_status);
            break;
        case ROUTE_SRC_INTEG_HEADER: {
            const http_header_t *h = find_hdr(env->integ_headers, env->integ_nheaders, p->name);
            if (h)
                buf_append(out, h->value, h->value_len);
            break;
        }
        case ROUTE_SRC_METHOD:
        case ROUTE_SRC_PATH:
        case ROUTE_SRC_BASEPATH:
            /* HTTP API sources; filled when the REST side evaluates expressions. */
            break;
        }
    }
}

void route_expr_eval(const route_expr_t *e, const json_t *body, buf_t *out)
{
    route_expr_env_t env = {0};
    env.body = body;
    route__expr_eval_env(e, &env, out);
}
