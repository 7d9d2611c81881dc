/* security.h: who may connect and how fast: authorizers, policies, JWTs, API keys, throttles. */
#ifndef PORTICO_ROUTES_SECURITY_H
#define PORTICO_ROUTES_SECURITY_H

/*
 * Pure logic of issue 7 (docs/security.md): the configuration model of authorizers, resource
 * policies, API keys and usage plans; identity sources; the Lambda authorizer's event and
 * output; IAM policy evaluation with wildcards and aws:SourceIp conditions; CIDR matching;
 * JWT decoding, signature verification (libjose, against a JWK set) and claim checks; token
 * buckets and usage-plan quota windows. No I/O and no threads: the gateway (gateway/authz.c,
 * gateway/limits.c) fetches, caches, locks and answers.
 *
 * Behaviour references are to ../shared/docs/aws-compat-spec.md (the "spec") and to AWS's
 * developer guide pages named where they apply.
 */

#include "common/buf.h"
#include "common/http.h"
#include "routes/route.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ============================================================================================
 * Identity sources (spec 2.5; AWS "identitySource"): where the authorizer's inputs come from.
 * ========================================================================================== */

typedef enum route_idsrc_kind {
    ROUTE_IDSRC_HEADER = 1, /* route.request.header.NAME / $request.header.NAME */
    ROUTE_IDSRC_QUERY,      /* route.request.querystring.NAME / $request.querystring.NAME */
    ROUTE_IDSRC_STAGEVAR,   /* stageVariables.NAME / $stageVariables.NAME */
    ROUTE_IDSRC_CONTEXT,    /* context.NAME / $context.NAME */
} route_idsrc_kind_t;

typedef struct route_idsrc {
    route_idsrc_kind_t kind;
    char *name; /* owned by the config */
} route_idsrc_t;

#define ROUTE_IDSRC_MAX 10

/*
 * Parses one identitySource entry. WebSocket APIs write "route.request.header.Auth",
 * "route.request.querystring.token", "stageVariables.x", "context.x"; HTTP APIs write
 * "$request.header.Authorization", "$request.querystring.token", "$stageVariables.x",
 * "$context.x" (http selects the form). *name points into s. Returns PT_OK or PT_EINVAL.
 */
int route_idsrc_parse(const char *s, bool http, route_idsrc_kind_t *kind, const char **name);

/* What an identity source may read. Pointers are borrowed. */
typedef struct route_idreq {
    const http_header_t *headers;
    size_t nheaders;
    const char *query; /* raw, without '?', NULL when none */
    size_t query_len;
    const route_stage_t *stage;
    const route_ctx_t *ctx; /* context variables; may be NULL */
} route_idreq_t;

/* The values of a request's identity sources, in order; strings owned. */
typedef struct route_identity {
    char *v[ROUTE_IDSRC_MAX];
    size_t n;
} route_identity_t;

/*
 * Reads every source. A header or query parameter given several times yields its last value
 * (what the event's single-value maps hold). Returns PT_OK, or PT_ENOTFOUND when a source is
 * missing or empty: AWS then answers 401 without invoking the authorizer (spec 2.5). Free
 * with route_identity_free in both cases.
 */
int route_identity_get(const route_idsrc_t *src, size_t n, const route_idreq_t *r,
                       route_identity_t *out);
void route_identity_free(route_identity_t *id);
/* The cache key of a result: authorizer id, API, stage and the values, NUL-separated. */
void route_identity_key(const char *authorizer_id, const char *api_id, const char *stage,
                        const route_identity_t *id, buf_t *out);

/* ============================================================================================
 * CIDR blocks and IAM policies (resource policies and Lambda authorizer outputs).
 * ========================================================================================== */

typedef struct route_cidr {
    uint8_t family; /* 4 or 6 */
    uint8_t bits;   /* prefix length */
    uint8_t addr[16];
} route_cidr_t;

/* "192.0.2.0/24", "192.0.2.7" (a /32), "2001:db8::/32", "::1". Host bits beyond the prefix
 * are ignored, as IAM does. Returns PT_OK or PT_EINVAL. */
int route_cidr_parse(const char *s, size_t n, route_cidr_t *out);
/* True when the address (text, IPv4 or IPv6; an IPv4-mapped IPv6 address counts as IPv4)
 * lies inside c. An unparsable address matches nothing. */
bool route_cidr_match(const route_cidr_t *c, const char *ip);

/* IAM's wildcard match (case-sensitive): '*' any run of characters, '?' exactly one. */
bool route_wildcard_match(const char *pat, const char *s);

typedef struct route_policy route_policy_t; /* parsed policy document (opaque) */

/*
 * Parses an IAM policy document: {"Version": ..., "Statement": [ {Effect, Action|NotAction,
 * Resource|NotResource, Principal, Condition}, ... ]} (a single statement object is accepted
 * too, as IAM does). Conditions: IpAddress / NotIpAddress on aws:SourceIp (a CIDR or a list).
 * Anything else in a Condition is refused: a Deny that silently never matched would grant
 * access. Returns PT_OK (*out: free with route_policy_free) or PT_EINVAL with the reason in
 * err (may be NULL).
 */
int route_policy_parse(const json_t *doc, route_policy_t **out, buf_t *err);
void route_policy_free(route_policy_t *p);

typedef enum route_effect {
    ROUTE_EFFECT_NONE = 0, /* no statement applies: an implicit deny */
    ROUTE_EFFECT_ALLOW,
    ROUTE_EFFECT_DENY, /* an explicit deny (wins over any allow) */
} route_effect_t;

/*
 * Evaluates the policy for action ("execute-api:Invoke") on resource (a full execute-api ARN)
 * from source_ip (may be NULL: IP conditions then never match). api_arn (may be NULL) is the
 * API's ARN ("arn:aws:execute-api:REGION:ACCOUNT:APIID"): REST-style resources written
 * "execute-api:/stage/METHOD/path" are expanded against it. Actions compare
 * case-insensitively ("execute-api:*" and "*" match), resources with route_wildcard_match.
 */
route_effect_t route_policy_eval(const route_policy_t *p, const char *action, const char *resource,
                                 const char *api_arn, const char *source_ip);
/* True when some statement of the policy allows (a resource policy made only of Deny
 * statements does not need an explicit allow). */
bool route_policy_has_allow(const route_policy_t *p);

/* ============================================================================================
 * Configuration model (apigatewayv2 Authorizer; REST ApiKey, UsagePlan, QuotaSettings;
 * RouteSettings throttles). Owned by the route_config_t.
 * ========================================================================================== */

typedef enum route_authz_type {
    ROUTE_AUTHZ_REQUEST = 1, /* Lambda REQUEST authorizer */
    ROUTE_AUTHZ_JWT,         /* HTTP APIs only */
} route_authz_type_t;

typedef struct route_authorizer {
    char *id;   /* authorizerId (generated from the name when absent) */
    char *name; /* required */
    route_authz_type_t type;
    char *uri; /* authorizerUri: a Lambda (invoke ARN, ARN, name) or an http(s) URL */
    route_idsrc_t *ids;
    size_t nids;
    int ttl_s;       /* authorizerResultTtlInSeconds, 0..3600 (0: no caching) */
    bool v2;         /* authorizerPayloadFormatVersion "2.0" (HTTP APIs) */
    bool simple;     /* enableSimpleResponses (2.0 only) */
    int timeout_ms;  /* Portico: how long to wait for the authorizer; 10000 */
    char *issuer;    /* jwtConfiguration.issuer */
    char **audience; /* jwtConfiguration.audience */
    size_t naudience;
    char *jwks_uri;  /* jwtConfiguration.jwksUri (Portico), else discovered from the issuer */
    char *jwks_file; /* jwtConfiguration.jwksFile (Portico): a local JWK set */
    int line;
} route_authorizer_t;

typedef enum route_quota_period {
    ROUTE_QUOTA_NONE = 0,
    ROUTE_QUOTA_DAY,
    ROUTE_QUOTA_WEEK,
    ROUTE_QUOTA_MONTH,
} route_quota_period_t;

typedef struct route_throttle {
    bool set;
    double rate; /* rateLimit, requests per second */
    int burst;   /* burstLimit */
} route_throttle_t;

typedef struct route_apikey {
    char *id; /* "id" (generated from the name when absent) */
    char *name;
    char *value; /* 20..128 characters, as AWS requires */
    bool enabled;
    size_t index; /* position in cfg->security->apikeys */
} route_apikey_t;

typedef struct route_plan_method {
    char *route_key; /* "$connect", "GET /pets" */
    route_throttle_t throttle;
} route_plan_method_t;

typedef struct route_plan_stage {
    char *api_id;
    char *stage;
    const route_api_t *api; /* resolved */
    const route_stage_t *stage_ref;
    route_plan_method_t *methods; /* apiStages[].throttle: per-route limits */
    size_t nmethods;
} route_plan_stage_t;

typedef struct route_usage_plan {
    char *id;
    char *name;
    route_plan_stage_t *stages;
    size_t nstages;
    route_throttle_t throttle;
    route_quota_period_t quota_period; /* NONE: no quota */
    int64_t quota_limit;
    int quota_offset;
    route_apikey_t **keys; /* the keys of this plan */
    size_t nkeys;
    size_t index;
} route_usage_plan_t;

/* Everything of issue 7 that is not per route, hanging off route_config_t. */
typedef struct route_security {
    route_apikey_t *apikeys;
    size_t napikeys;
    route_usage_plan_t *plans;
    size_t nplans;
    route_throttle_t server_throttle; /* server.throttle: the account-level bucket */
} route_security_t;

/* ============================================================================================
 * Lambda authorizers: the event and the output (spec 2.5; "Working with AWS Lambda
 * authorizers for HTTP APIs").
 * ========================================================================================== */

/* execute-api ARNs: WebSocket "arn:aws:execute-api:R:A:API/STAGE/ROUTEKEY"; HTTP
 * "arn:aws:execute-api:R:A:API/STAGE/METHOD/path" (path without its leading '/'). */
void route_arn_ws(const route_ctx_t *ctx, const char *route_key, buf_t *out);
void route_arn_http(const route_http_ctx_t *hc, buf_t *out);
/* "arn:aws:execute-api:REGION:ACCOUNT:APIID" */
void route_arn_api(const char *region, const char *account, const char *api_id, buf_t *out);

/*
 * The WebSocket REQUEST authorizer event: {type: "REQUEST", methodArn, headers,
 * multiValueHeaders, queryStringParameters, multiValueQueryStringParameters, stageVariables
 * ({} when none), requestContext} from the $connect context (spec 2.5). Appends JSON text.
 */
void route_az_event_ws(const route_ctx_t *ctx, const char *method_arn, buf_t *out);
/*
 * The HTTP API REQUEST authorizer event of payload format 2.0 {version, type, routeArn,
 * identitySource[], routeKey, rawPath, rawQueryString, cookies, headers,
 * queryStringParameters, requestContext, pathParameters, stageVariables} or 1.0 {version,
 * type, methodArn, identitySource (comma-joined), authorizationToken, resource, path,
 * httpMethod, headers, ..., requestContext, pathParameters, stageVariables}: the request's
 * proxy event without its body. Appends JSON text.
 */
void route_az_event_http(const route_http_ctx_t *hc, bool v2, const char *arn,
                         const route_identity_t *id, buf_t *out);

typedef enum route_az_verdict {
    ROUTE_AZ_OK = 0,       /* a well-formed output: evaluate it (route_az_decide) */
    ROUTE_AZ_UNAUTHORIZED, /* the function failed with "Unauthorized": 401 */
    ROUTE_AZ_FORBIDDEN,    /* 403 (an http authorizer answered 403) */
    ROUTE_AZ_ERROR,        /* anything else (malformed, too large, failed): 500 */
} route_az_verdict_t;

/* A parsed authorizer output. Owned; route_az_result_free. */
typedef struct route_az_result {
    route_az_verdict_t verdict;
    char *principal_id;         /* NULL when absent (simple responses) */
    route_policy_t *policy;     /* policyDocument; NULL for simple responses */
    bool simple;                /* {"isAuthorized": ..., "context": ...} */
    bool is_authorized;         /* simple responses */
    json_t *context;            /* object or NULL */
    char *usage_identifier_key; /* NULL when absent */
    char why[96];               /* for logs when verdict != OK */
} route_az_result_t;

#define ROUTE_AZ_MAX_OUTPUT 8192 /* "Lambda authorizer result size: 8 KB" (spec 9) */

/*
 * Interprets what the authorizer call returned: res is the transport result (status,
 * X-Amz-Function-Error, body), simple selects enableSimpleResponses. A function error whose
 * errorMessage is "Unauthorized" (or an http authorizer's 401) is UNAUTHORIZED; an http
 * authorizer's 403 is FORBIDDEN; an output over 8 KB, malformed, without policyDocument (or
 * isAuthorized), with a context value that is an object or an array (REST and WebSocket
 * authorizers allow strings, numbers and booleans only), a failed call or a non-2xx status are
 * ERROR. Always fills out (free it).
 */
void route_az_result_from(const route_integ_result_t *res, bool simple, route_az_result_t *out);
/* Parses an output body (ROUTE_AZ_OK or ROUTE_AZ_ERROR). Exposed for tests and fuzzing. */
void route_az_result_parse(const char *body, size_t len, bool simple, route_az_result_t *out);
void route_az_result_free(route_az_result_t *r);

/* 200 (allowed), 401 or 403 or 500 for a result and a method ARN. */
int route_az_decide(const route_az_result_t *r, const char *method_arn);

/* requestContext.authorizer for WebSocket events and REST-style (1.0) events: {principalId,
 * ...context}. Returns a new object (caller decrefs). */
json_t *route_az_context_ws(const route_az_result_t *r);

/* ============================================================================================
 * JWT authorizers (HTTP APIs; "Control access to HTTP APIs with JWT authorizers").
 * ========================================================================================== */

/* A decoded compact JWS. Owned; route_jwt_free. */
typedef struct route_jwt {
    json_t *jws;     /* flattened JSON serialization {protected, payload, signature} for libjose */
    json_t *header;  /* decoded protected header */
    json_t *claims;  /* decoded payload (an object) */
    char alg[8];     /* RS256, RS384, RS512, ES256, ES384, ES512 */
    const char *kid; /* points into header; NULL when absent */
} route_jwt_t;

/*
 * Decodes "header.payload.signature" (an optional "Bearer " prefix is skipped). Refuses
 * anything but three base64url parts of JSON objects, an "alg" outside the allow-list (so
 * "none", HS* and anything unknown are refused before any key is looked at: no algorithm
 * confusion), "crit" headers, and tokens over 16 KB. Returns PT_OK or PT_EINVAL / PT_EPARSE
 * with an AWS-style description in *why (static text). Free out in both cases.
 */
int route_jwt_decode(const char *tok, size_t n, route_jwt_t *out, const char **why);
void route_jwt_free(route_jwt_t *t);

/*
 * Checks a JWK set text {"keys": [...]} and returns it parsed (caller decrefs). Keys that are
 * not RSA or EC public keys usable for signatures are dropped. Returns PT_OK, or PT_EPARSE /
 * PT_EINVAL with *why.
 */
int route_jwks_parse(const char *text, size_t len, json_t **out, const char **why);

/*
 * Verifies the signature with the key of the set whose "kid" equals the token's (AWS: "The
 * token must have a header claim that matches the key in the jwks_uri that signed the token").
 * The key must fit the algorithm (kty RSA for RS*, EC with the matching crv for ES*) and, when
 * it says so, its "alg" and "use" must agree. Returns PT_OK, PT_ENOTFOUND (no key with that
 * kid: the caller may refresh the set once), or PT_EAUTH with *why.
 */
int route_jwt_verify(const route_jwt_t *t, const json_t *jwks, const char **why);

/*
 * Claims, as AWS checks them: iss equals issuer; aud (a string or a list) has one of the
 * audience entries, or, only when aud is absent, client_id does; exp after now; nbf and iat
 * not after now (skew_s of clock slack each way). Returns PT_OK or PT_EAUTH with *why.
 */
int route_jwt_check_claims(const json_t *claims, const char *issuer, char *const *audience,
                           size_t naudience, int64_t now, int skew_s, const char **why);
/* The token's scopes ("scope" space-separated or "scp" string/list) contain at least one of
 * required (n > 0). Returns PT_OK or PT_EAUTH with *why. */
int route_jwt_check_scopes(const json_t *claims, char *const *required, size_t n, const char **why);
/* requestContext.authorizer of a 2.0 event: {"jwt": {"claims": {...}, "scopes": [...]|null}},
 * claims rendered as AWS renders them (every value a string; lists as "[a b]"). v1 gives
 * {"claims": ..., "scopes": ...}. New reference. */
json_t *route_jwt_context(const json_t *claims, bool v2);

/* ============================================================================================
 * Token buckets and quotas (AWS: "token bucket algorithm, where a token counts for a
 * request"; QuotaSettings).
 * ========================================================================================== */

typedef struct route_bucket {
    double rate;  /* tokens per second */
    double burst; /* capacity */
    double tokens;
    int64_t last_us; /* monotonic time of the last refill */
} route_bucket_t;

/* A full bucket. */
void route_bucket_init(route_bucket_t *b, double rate, double burst, int64_t now_us);
/* Refills for the time since the last call, then takes one token: true, or false when fewer
 * than one is left (throttled; nothing is taken). A burst of 0 refuses everything, as AWS. */
bool route_bucket_take(route_bucket_t *b, int64_t now_us);
/* Gives back a token taken by a request that a later bucket refused (capped at burst). */
void route_bucket_give(route_bucket_t *b);

/* A quota counter as stored (store/quota.c). */
typedef struct route_quota_counter {
    int64_t window_start; /* unix seconds (UTC) of the counted window */
    uint64_t used;
} route_quota_counter_t;

/*
 * Start (unix seconds, UTC) of the quota window holding t: DAY at 00:00 UTC; WEEK on the
 * weekday offset (0 = Sunday, 1 = Monday, ...) at 00:00; MONTH on day offset+1 of the month at
 * 00:00 (offset 0: the 1st).
 */
int64_t route_quota_window(route_quota_period_t p, int offset, int64_t t);
/* Counts one request: a counter of an older window restarts at 0. Returns true when it fits
 * (used <= limit afterwards; the counter is incremented), false when the quota is spent (the
 * counter is left as it is). */
bool route_quota_take(route_quota_period_t p, int offset, int64_t limit, route_quota_counter_t *c,
                      int64_t now_s);

/* ============================================================================================
 * API keys (apiKeyRequired, apiKeySelectionExpression, usage plans).
 * ========================================================================================== */

/* The key a request presents: the x-api-key header (the default expression), or the
 * authorizer's usageIdentifierKey (usage_key, may be NULL) when the API's
 * apiKeySelectionExpression is $context.authorizer.usageIdentifierKey. *len receives its
 * length; NULL when none. */
const char *route_apikey_select(const route_api_t *api, const http_header_t *headers,
                                size_t nheaders, const char *usage_key, size_t *len);

/*
 * Finds an enabled key with that value (compared in constant time) and the usage plan that
 * has it and lists api/stage. Returns PT_OK (*key, *plan, *ps set), or PT_ENOTFOUND (unknown,
 * disabled, or in no plan of this stage: AWS answers 403).
 */
int route_apikey_lookup(const route_security_t *sec, const char *value, size_t len,
                        const route_api_t *api, const route_stage_t *stage,
                        const route_apikey_t **key, const route_usage_plan_t **plan,
                        const route_plan_stage_t **ps);

/* The per-route throttle of a plan stage for route_key, NULL when none. */
const route_plan_method_t *route_plan_method(const route_plan_stage_t *ps, const char *route_key);

/* The effective throttle of a route on a stage: routeSettings[routeKey] when it sets one, else
 * defaultRouteSettings; NULL when neither does ("default per-method limits", AWS). */
const route_settings_t *route_stage_throttle(const route_stage_t *st, const char *route_key);

#endif
