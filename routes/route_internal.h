/* route_internal.h: functions shared between files of routes/ only (not part of the API). */
#ifndef PORTICO_ROUTES_ROUTE_INTERNAL_H
#define PORTICO_ROUTES_ROUTE_INTERNAL_H

#include "routes/route.h"

#include <regex.h>

/* Builds api->_index and the r_connect/r_disconnect/r_default shortcuts. The config loader
 * calls it once the API's routes are final; route_config_free calls the _free. */
void route__api_index(route_api_t *api);
void route__api_index_free(route_api_t *api);

/* The source of a selection-expression variable. */
typedef enum route_src {
    ROUTE_SRC_BODY = 1,     /* request.body<jsonpath> */
    ROUTE_SRC_HEADER,       /* request.header.NAME */
    ROUTE_SRC_QUERY,        /* request.querystring.NAME */
    ROUTE_SRC_METHOD,       /* request.method */
    ROUTE_SRC_PATH,         /* request.path */
    ROUTE_SRC_BASEPATH,     /* request.basepath */
    ROUTE_SRC_CONTEXT,      /* context.NAME */
    ROUTE_SRC_STAGEVAR,     /* stageVariables.NAME */
    ROUTE_SRC_INTEG_STATUS, /* integration.response.statuscode */
    ROUTE_SRC_INTEG_HEADER, /* integration.response.header.NAME */
    ROUTE_SRC_INTEG_BODY,   /* integration.response.body<jsonpath> */
} route_src_t;

/* One step of a JSONPath: a member name or an array index. */
typedef struct route_path_step {
    char *name; /* NULL for an index step */
    size_t index;
} route_path_step_t;

/* Looks a compiled JSONPath up in a tree; NULL when missing. */
const json_t *route__path_get(const json_t *root, const route_path_step_t *steps, size_t n);

/* Appends the selection-expression text of a JSON value (strings raw, numbers and booleans as
 * JSON text, null as nothing, arrays as "[a, b]", objects as compact JSON). */
void route__json_text(const json_t *v, buf_t *out);

/*
 * Compiles a JSONPath as used after "request.body" and in $input.json('$.x'): ".a.b", "['a']",
 * "[0]", "$.a" (leading '$' allowed). Returns PT_OK or PT_EPARSE. *steps is owned by the caller
 * (free with route__path_free).
 */
int route__path_compile(const char *p, size_t n, route_path_step_t **steps, size_t *nsteps);
void route__path_free(route_path_step_t *steps, size_t n);

/* Resolver for variables other than the body, used by route__expr_eval_ctx. */
typedef struct route_expr_env {
    const route_ctx_t *ctx; /* may be NULL */
    const json_t *body;     /* request body tree, may be NULL */
    int integ_status;       /* 0 when not applicable */
    const http_header_t *integ_headers;
    size_t integ_nheaders;
    const json_t *integ_body; /* may be NULL */
} route_expr_env_t;

void route__expr_eval_env(const route_expr_t *e, const route_expr_env_t *env, buf_t *out);

/* ============================================================================================
 * Helpers shared by ctx.c, event.c, result.c, template.c, integ_req.c and outcome.c (util.c,
 * headers.c). Text that leaves routes/ as JSON or as a text frame is valid UTF-8: every byte
 * sequence that is not well-formed UTF-8 (overlong forms, surrogates, code points above
 * U+10FFFF, truncated sequences) is replaced by U+FFFD, one replacement per offending byte.
 * ========================================================================================== */

/* Appends s as a quoted JSON string / as the inside of one. Escapes '"', '\' and control
 * characters (\b \f \n \r \t, others as \u00XX with upper-case hex, as Jackson writes
 * them); invalid UTF-8 becomes U+FFFD. Never fails. */
void route__json_str(buf_t *out, const char *s, size_t n);
void route__json_esc(buf_t *out, const char *s, size_t n);

/* True when s[0..n) is well-formed UTF-8 (NUL bytes allowed). */
bool route__utf8_valid(const char *s, size_t n);
/* Appends s with invalid UTF-8 replaced by U+FFFD. */
void route__utf8_sanitize(buf_t *out, const char *s, size_t n);

/* Appends compact JSON for v (strings sanitized as route__json_str, reals in their shortest
 * round-trip form). depth guards against pathological nesting: deeper than 4096 levels is
 * written as null. */
void route__json_write(buf_t *out, const json_t *v);
/* A Lambda result's scalar (string, number, boolean) as text (*out owned by the caller);
 * PT_EPARSE for other types. */
int route__scalar_text(const json_t *v, char **out);
/* A Lambda result's statusCode (integer, integral real or 3-digit string, 100-599). */
int route__parse_status(const json_t *v, int *out);
/* Shortest "%.Ng" that reads back as d, with ".0" added to integral values ("1.0", "0.1",
 * "1e+300"). out needs 32 bytes. */
void route__fmt_real(double d, char out[32]);

/* Percent-encodes s: RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) stay, every other
 * byte becomes %XX (upper-case hex). */
void route__pct_encode(buf_t *out, const char *s, size_t n);

/*
 * Compiles a Java-style regular expression (as AWS writes integration-response keys and as
 * templates pass to replaceAll/split/matches) as POSIX extended: \d \D are translated to
 * [0-9] / [^0-9] outside brackets; back-references are refused (they make matching
 * exponential). anchored wraps the pattern in ^( )$. Returns PT_OK (regfree when done) or
 * PT_EPARSE.
 */
int route__regex_compile(regex_t *re, const char *pat, size_t n, bool anchored);

/* A list of owned name/value pairs (headers, query parameters). */
typedef struct route_kvl {
    route_kv_t *v;
    size_t n, cap;
} route_kvl_t;

void route__kvl_add(route_kvl_t *l, const char *k, size_t kl, const char *v, size_t vl);
/* Removes every entry whose key equals k case-insensitively. */
void route__kvl_del_ci(route_kvl_t *l, const char *k);
/* Value of the last entry named k (case-insensitive when ci); NULL when absent. */
const char *route__kvl_last(const route_kvl_t *l, const char *k, bool ci);
void route__kvl_free(route_kvl_t *l);

/*
 * The handshake headers as the integration sees them on CONNECT (spec 2.2, 6.1): the client's
 * headers in order, minus hop-by-hop ones (Connection and the headers it names, Upgrade,
 * Keep-Alive, TE, Trailer, Transfer-Encoding, Proxy-*), with X-Forwarded-For (the client's
 * values, then the source IP, comma-joined), X-Forwarded-Port, X-Forwarded-Proto and
 * X-Amzn-Trace-Id (ctx->trace_id) replacing whatever the client sent under those names.
 * Empty for other event kinds.
 */
void route__connect_headers(const route_ctx_t *ctx, route_kvl_t *out);

/*
 * Groups a list by key the way AWS's header maps do (a case-insensitive sorted map): groups
 * sorted by key compared case-insensitively, each group keeping the casing of its first entry.
 * When ci is false, keys are compared exactly and groups keep first-appearance order (query
 * strings). Fills *idx (owned by the caller, free()) with the entries' indices in group order
 * and *starts with ngroups+1 offsets into it.
 */
void route__kvl_group(const route_kvl_t *l, bool ci, size_t **idx, size_t **starts,
                      size_t *ngroups);

/* Parses a raw query string into decoded key/value pairs ('+' is a space; a piece whose
 * escapes are malformed is kept as sent). */
void route__query_parse(const char *q, size_t n, route_kvl_t *out);

/* The body of a MESSAGE as JSON: ctx->body_json, or a parse of ctx->body cached in *tmp
 * (caller json_decref's *tmp). NULL when the body is not JSON. */
const json_t *route__ctx_body_json(const route_ctx_t *ctx, json_t **tmp);

/* ============================================================================================
 * HTTP APIs (http_match.c, http_event.c).
 * ========================================================================================== */

/* Compiles the API's HTTP route keys into api->_http (the config loader calls it once the
 * routes are final; route__http_free releases it). Returns PT_OK or PT_EINVAL with the reason
 * in err (an invalid key, or two keys with the same method and path shape). */
int route__http_compile(route_api_t *api, buf_t *err);
void route__http_free(route_api_t *api);

/* Which header set route__http_headers builds. */
typedef enum route__http_hmode {
    ROUTE__HTTP_V1 = 1, /* 1.0 event: client spellings, Content-Length added when absent */
    ROUTE__HTTP_V2,     /* 2.0 event: lower case, Cookie left out (cookies) */
    ROUTE__HTTP_PROXY,  /* HTTP_PROXY request: no Host, Content-Length or Expect */
} route__http_hmode_t;

/* The request's headers as an integration sees them: hop-by-hop ones removed, X-Forwarded-For
 * appended, X-Forwarded-Port/-Proto and X-Amzn-Trace-Id (ctx->trace_id) set. */
void route__http_headers(const route_http_ctx_t *ctx, route__http_hmode_t mode, route_kvl_t *out);
/* True when the request body travels as text in events (else base64). */
bool route__http_body_is_text(const route_http_ctx_t *ctx);

#endif
