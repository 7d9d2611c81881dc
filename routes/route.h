/* route.h: the API model, config loading, route selection, templates, events and results. */
#ifndef PORTICO_ROUTES_ROUTE_H
#define PORTICO_ROUTES_ROUTE_H

/*
 * routes/ is pure logic: no sockets, threads or files (except route_config_load_file, a thin
 * wrapper that reads a file and calls route_config_parse). It decides *what* happens; the
 * gateway and the integration thread make it happen.
 *
 * Behaviour references are to ../shared/docs/aws-compat-spec.md (the "spec").
 */

#include "common/buf.h"
#include "common/http.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ============================================================================================
 * Configuration model. Built by route_config_parse; everything is owned by the route_config_t
 * and freed by route_config_free. Field names follow the apigatewayv2 model (spec section 12).
 * ========================================================================================== */

typedef struct route_expr route_expr_t; /* compiled selection expression (opaque) */

/* A string map (stage variables, request templates, request parameters...). Keys are unique;
 * order is the file's order. */
typedef struct route_kv {
    char *key;
    char *val;
} route_kv_t;

typedef struct route_map {
    route_kv_t *items;
    size_t n;
} route_map_t;

/* Returns the value for key, or NULL. */
const char *route_map_get(const route_map_t *m, const char *key);

typedef enum route_protocol {
    ROUTE_PROTO_WEBSOCKET = 1,
    ROUTE_PROTO_HTTP = 2,
} route_protocol_t;

typedef enum route_integ_type {
    ROUTE_INTEG_MOCK = 1,
    ROUTE_INTEG_HTTP,
    ROUTE_INTEG_HTTP_PROXY,
    ROUTE_INTEG_AWS_PROXY,
    ROUTE_INTEG_AWS,
} route_integ_type_t;

typedef struct route_integ_response {
    char
        *key; /* "$default" or "/regex/" (matched against the status code or Lambda errorMessage) */
    char *template_selection_expression; /* NULL when absent */
    route_expr_t *tse;
    route_map_t response_templates;
    route_map_t response_parameters;
    char *content_handling_strategy; /* NULL, CONVERT_TO_BINARY, CONVERT_TO_TEXT */
    int line;                        /* config line, for messages */
} route_integ_response_t;

typedef struct route_integration {
    char *id;
    route_integ_type_t type;
    char *uri;      /* integrationUri; may contain ${stageVariables.x}; NULL for MOCK */
    char *method;   /* integrationMethod; "POST" when absent */
    int timeout_ms; /* timeoutInMillis: 50..29000 (WebSocket), default 29000 */
    route_map_t request_parameters;      /* integration.request.X.NAME -> source */
    route_map_t request_templates;       /* key -> VTL template */
    char *template_selection_expression; /* NULL when absent */
    route_expr_t *tse;
    char *passthrough_behavior;        /* WHEN_NO_MATCH (default), WHEN_NO_TEMPLATES, NEVER */
    char *content_handling_strategy;   /* NULL, CONVERT_TO_BINARY, CONVERT_TO_TEXT */
    char *payload_format_version;      /* "1.0" (default) or "2.0" (HTTP APIs) */
    route_integ_response_t *responses; /* integrationResponses */
    size_t nresponses;
    int line;
} route_integration_t;

typedef struct route_route {
    char *id;                         /* routeId (generated when absent) */
    char *key;                        /* routeKey */
    route_integration_t *integration; /* from target "integrations/{id}"; NULL when no target */
    char *route_response_selection_expression; /* only "$default" is allowed, as AWS */
    bool two_way;             /* RRSE "$default" and a route response with key "$default" */
    char *authorization_type; /* NONE (default), AWS_IAM, CUSTOM, JWT */
    char *authorizer_id;
    bool api_key_required;
    route_map_t request_parameters; /* route.request.X.NAME -> "required" ("true"/"false") */
    char *operation_name;
    int line;
    /* Issue 7 (routes/security.h, docs/security.md): the authorizer of a CUSTOM or JWT route
     * (resolved from authorizerId) and a JWT route's authorizationScopes. */
    struct route_authorizer *authorizer;
    char **authorization_scopes;
    size_t nauthorization_scopes;
} route_route_t;

typedef struct route_settings {
    bool has_throttle;
    double throttling_rate_limit;
    int throttling_burst_limit;
    bool detailed_metrics_enabled;
    char *logging_level; /* NULL, ERROR, INFO, OFF */
    bool data_trace_enabled;
} route_settings_t;

typedef struct route_stage {
    char *name;
    route_map_t variables;
    char *description;
    route_settings_t default_route_settings;
    route_map_t route_settings_keys; /* routeKey -> index into route_settings (as decimal text) */
    route_settings_t *route_settings;
    size_t nroute_settings;
    char *access_log_destination; /* accessLogSettings.destinationArn: a path or "stdout" */
    char *access_log_format;      /* accessLogSettings.format */
    int line;
} route_stage_t;

typedef struct route_api {
    char *id; /* apiId: 10 lowercase alphanumerics (generated when absent) */
    char *name;
    route_protocol_t protocol;
    char *route_selection_expression;
    route_expr_t *rse;
    char *api_key_selection_expression;
    char *description;
    route_route_t *routes;
    size_t nroutes;
    route_integration_t *integrations;
    size_t nintegrations;
    route_stage_t *stages;
    size_t nstages;
    /* Shortcuts (NULL when the API has no such route). */
    route_route_t *r_connect;
    route_route_t *r_disconnect;
    route_route_t *r_default;
    void *_index;            /* routeKey lookup table (private) */
    struct route_cors *cors; /* corsConfiguration (HTTP APIs), NULL when none */
    void *_http;             /* compiled HTTP API routes (http_match.c, private) */
    int line;
    /* Issue 7 (routes/security.h): authorizers[] and the resource policy ("policy", a Portico
     * extension borrowed from REST APIs), NULL when none. */
    struct route_authorizer *authorizers;
    size_t nauthorizers;
    struct route_policy *policy;
} route_api_t;

typedef struct route_mapping {
    char *domain_name;     /* Host to match (case-insensitive, port ignored) */
    char *api_mapping_key; /* first path segment(s); "" for the root */
    char *api_id;
    char *stage;
    route_api_t *api; /* resolved */
    route_stage_t *stage_ref;
} route_mapping_t;

typedef struct route_credential {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL when absent */
    char **stages;       /* stages it may manage; NULL = all */
    size_t nstages;
    char **invoke_resources; /* execute-api:Invoke ARN patterns (AWS_IAM routes); NULL = none */
    size_t ninvoke_resources;
} route_credential_t;

typedef struct route_listen {
    char *host; /* "0.0.0.0", "127.0.0.1", "::1" (brackets removed) */
    int port;   /* 0 = any free port */
} route_listen_t;

typedef struct route_limits {
    uint32_t max_frame_bytes;                /* 32768 */
    uint32_t max_message_bytes;              /* 131072 */
    uint32_t idle_timeout_s;                 /* 600 */
    uint32_t max_connection_s;               /* 7200 */
    uint32_t max_head_bytes;                 /* 16384 */
    uint32_t head_timeout_s;                 /* 10 */
    uint32_t max_connections;                /* 0 = unlimited; per process */
    uint32_t max_pending_upgrades;           /* 10000 per worker */
    uint32_t outbound_queue_messages;        /* 1024 */
    uint32_t outbound_queue_bytes;           /* 4194304 */
    uint64_t max_request_body_bytes;         /* 10485760 (REST bodies) */
    uint32_t max_integration_response_bytes; /* 10485760 */
    bool allow_binary;                       /* false: binary frames close 1003, as AWS */
    uint32_t shutdown_grace_ms;  /* time to wait for $disconnect integrations at exit: 5000 */
    uint64_t registry_max_bytes; /* LMDB map growth limit; 0 = the store's default (4 GiB) */
    /* Issue 7, Portico extensions, all off (0) by default (docs/security.md). */
    uint32_t max_connections_per_ip;       /* concurrent WebSockets per source IP */
    double connect_rate_per_ip;            /* new connections per second per source IP */
    uint32_t connect_burst_per_ip;         /* ... and their burst */
    double message_rate_per_connection;    /* messages per second per connection */
    uint32_t message_burst_per_connection; /* ... and their burst */
    double connections_api_rate;           /* @connections requests per second */
    uint32_t connections_api_burst;        /* ... and their burst */
} route_limits_t;

/* server.aws: how Portico itself calls AWS (Lambda Invoke). Every field NULL when absent; the
 * gateway falls back to the environment and the shared files (gateway/aws.c, docs/lambda.md). */
typedef struct route_aws {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    char *region;
    char *lambda_endpoint; /* normalised (route_lambda_endpoint_norm) */
} route_aws_t;

typedef struct route_server {
    route_listen_t listen;       /* "listen": "HOST:PORT", default "0.0.0.0:8080" */
    route_listen_t admin_listen; /* "adminListen", default "127.0.0.1:9080" */
    char *data_dir;              /* "dataDir", default "./data" */
    int workers;                 /* 0 = number of CPUs */
    char *region;                /* "us-east-1" */
    char *account_id;            /* "000000000000", used in ARNs */
    int node_id;                 /* 0..255 */
    char *log_level;             /* "info" */
    char *admin_token;           /* "adminToken": bearer token for the admin API, NULL = none */
    route_limits_t limits;
    route_credential_t *credentials;
    size_t ncredentials;
    route_mapping_t *mappings; /* apiMappings */
    size_t nmappings;
    route_aws_t aws; /* "aws" */
} route_server_t;

typedef struct route_config {
    char *source; /* file name, for messages */
    route_server_t server;
    route_api_t *apis;
    size_t napis;
    void *_arena;                    /* private */
    struct route_security *security; /* apiKeys, usagePlans, server.throttle (routes/security.h) */
} route_config_t;

/*
 * Parses a config (JSON, or YAML: libyaml reads both) from buf. Every error names the source,
 * line and key: "api.json:12: apis[0].integrations[1].timeoutInMillis: 10 is out of range
 * [50, 29000]". Unknown keys, wrong types, dangling targets, duplicate ids or keys and bad
 * expressions are errors. Returns PT_OK (*out set; free with route_config_free) or PT_EINVAL /
 * PT_EPARSE with the message in err.
 */
int route_config_parse(const char *buf, size_t len, const char *source, route_config_t **out,
                       buf_t *err);
/* Reads path and parses it (source = path). Also returns PT_EIO when the file cannot be read and
 * PT_ETOOBIG when it is larger than 16 MB. */
int route_config_load_file(const char *path, route_config_t **out, buf_t *err);
void route_config_free(route_config_t *cfg);
/* Every key the loader recognises (accepted, accepted and ignored, or refused as not supported
 * yet), each once, for documentation checks. Static storage; *n receives the count. */
const char *const *route_config_known_keys(size_t *n);

/* Finds an API by id / a stage of an API by name; NULL when absent. */
route_api_t *route_api_find(const route_config_t *cfg, const char *api_id);
route_stage_t *route_stage_find(const route_api_t *api, const char *name, size_t name_len);
/*
 * Picks the API and stage a request is for, as API Gateway does (DESIGN section 2):
 *   1. server.apiMappings whose domainName equals the Host (case-insensitive, port ignored):
 *      the longest apiMappingKey that is the path's first segment(s) wins ("" matches all);
 *      the stage is the mapping's; *rest is the path after the key.
 *   2. a Host whose first label is an apiId: "/{stage}" + rest.
 *   3. a single API: "/{stage}" + rest.
 * path is the raw (percent-encoded) request path; the stage segment is decoded before the
 * lookup ("%24default" finds "$default"). Returns PT_OK or PT_ENOTFOUND (no API, or no such
 * stage). rest points into path ("" when nothing follows).
 */
typedef struct route_target {
    const route_api_t *api;
    const route_stage_t *stage;
    const route_mapping_t *mapping; /* NULL when not selected by an API mapping */
    const char *rest;
    size_t rest_len;
} route_target_t;

int route_resolve(const route_config_t *cfg, const char *host, size_t host_len, const char *path,
                  size_t path_len, route_target_t *out);

/* Finds a route by exact routeKey; NULL when absent. */
route_route_t *route_find(const route_api_t *api, const char *key, size_t key_len);

/* ============================================================================================
 * Selection expressions (spec 1.2, 1.3): "$request.body.a.b", "${request.body.x}-beta",
 * "\$default", static text. Missing paths evaluate to "".
 * ========================================================================================== */

/* Compiles an expression. Returns PT_OK or PT_EPARSE with a reason in err (may be NULL). */
int route_expr_compile(const char *text, route_expr_t **out, buf_t *err);
void route_expr_free(route_expr_t *e);
/* True when the expression reads the message body (so the caller must parse it). */
bool route_expr_needs_body(const route_expr_t *e);
/*
 * Evaluates against a parsed JSON body (NULL when the body is not JSON: body paths are then
 * "") and appends the result to out. Scalars render as their text (numbers and booleans as
 * JSON text, null as ""), arrays as "[a, b]" (as AWS), objects as compact JSON.
 */
void route_expr_eval(const route_expr_t *e, const json_t *body, buf_t *out);

/* ============================================================================================
 * Request context: what an event, a template, a parameter mapping or an access log may read.
 * Built by the gateway per event; every pointer is borrowed for the duration of the call.
 * ========================================================================================== */

typedef enum route_event_kind {
    ROUTE_EV_CONNECT = 1,
    ROUTE_EV_MESSAGE,
    ROUTE_EV_DISCONNECT,
} route_event_kind_t;

typedef struct route_ctx {
    const route_api_t *api;
    const route_stage_t *stage;
    const route_route_t *route; /* the selected route; its key is requestContext.routeKey */
    route_event_kind_t kind;
    const char *connection_id;
    const char *request_id; /* also extendedRequestId */
    const char *message_id; /* MESSAGE only */
    const char *domain_name;
    const char *region;
    const char *account_id;
    int64_t connected_at_ms;
    int64_t request_time_ms;
    const char *source_ip;
    const char *user_agent; /* NULL when the client sent none */
    /* CONNECT only: the handshake request. */
    const http_header_t *headers;
    size_t nheaders;
    const char *query; /* raw query string without '?', NULL when none */
    size_t query_len;
    int server_port; /* X-Forwarded-Port */
    bool tls;        /* X-Forwarded-Proto https or http */
    /* MESSAGE only. */
    const char *body;
    size_t body_len;
    const json_t *body_json; /* NULL when the body is not JSON */
    /* DISCONNECT only. */
    int disconnect_status_code;
    const char *disconnect_reason;
    /* requestContext.authorizer (JSON object), NULL when no authorizer ran. */
    const json_t *authorizer;
    const char *api_key;  /* identity.apiKey, NULL when none */
    const char *trace_id; /* X-Amzn-Trace-Id value ("Root=1-...") for CONNECT, NULL if none */
    /* Outcome, for access logs ($context.status, ...); 0 / NULL when not known yet. */
    int status;
    int integration_status;
    int64_t integration_latency_ms; /* -1 when no integration ran */
    const char *error_message;
    const char *error_response_type;
    /* Lambda Invoke settings (AWS_PROXY to a function); NULL: region from `region`, AWS's
     * regional endpoint. */
    const struct route_lambda_env *lambda;
} route_ctx_t;

/*
 * Resolves a context variable by name (without "$context."), e.g. "connectionId", "routeKey",
 * "identity.sourceIp", "authorizer.principalId", "requestTimeEpoch". Appends its text to out and
 * returns true, or returns false when it does not apply (logs then print "-").
 */
bool route_ctx_var(const route_ctx_t *ctx, const char *name, size_t name_len, buf_t *out);

/* ============================================================================================
 * Access-log formats (spec 10.2): a stage's accessLogSettings.format, compiled once (alog.c).
 * ========================================================================================== */

typedef struct route_alog route_alog_t; /* compiled format (opaque) */

#define ROUTE_ALOG_FORMAT_MAX 4096
/* The format of a stage that names a destination and no format (JSON, as AWS's console). */
extern const char route_alog_default_format[];

/* Compiles a format: literal text and $context.NAME variables, one line, naming
 * $context.requestId or $context.extendedRequestId. Returns PT_OK (*out: free with
 * route_alog_free), PT_EPARSE or PT_ETOOBIG with a reason in err (may be NULL). */
int route_alog_compile(const char *fmt, size_t len, route_alog_t **out, buf_t *err);
void route_alog_free(route_alog_t *f);
/* True when the format is JSON (values are then escaped as JSON string contents). */
bool route_alog_is_json(const route_alog_t *f);
/* Resolves a variable the context does not know (gateway-side values such as
 * responseLatency); appends its text and returns true, or returns false. */
typedef bool (*route_alog_var_fn)(void *ud, const char *name, size_t name_len, buf_t *out);
/* Appends one line (ending in '\n') to out: extra is asked first, then route_ctx_var; what
 * neither knows, or what is empty, renders "-". scratch is working space (any buffer). */
void route_alog_render(const route_alog_t *f, const route_ctx_t *ctx, route_alog_var_fn extra,
                       void *ud, buf_t *out, buf_t *scratch);

/* Where accessLogSettings.destinationArn points. */
typedef enum route_alog_dest_kind {
    ROUTE_ALOG_DEST_STDOUT = 1, /* "stdout" */
    ROUTE_ALOG_DEST_FILE,       /* a path (relative: to the working directory) */
    ROUTE_ALOG_DEST_ARN,        /* arn:aws:logs:...:log-group:NAME or ...:deliverystream/NAME */
} route_alog_dest_kind_t;
/* Classifies a destination. FILE: out receives the path; ARN: out receives the file name the
 * group or stream maps to ("NAME.log", '/' and other unsafe characters as '_'), which the
 * gateway puts under DATA_DIR/access-logs/. Returns PT_OK or PT_EINVAL (reason in err). */
int route_alog_dest(const char *dest, route_alog_dest_kind_t *kind, buf_t *out, buf_t *err);

/* ============================================================================================
 * WebSocket route selection (spec 1.3).
 * ========================================================================================== */

/*
 * Picks the route for a text message: evaluates the API's routeSelectionExpression, exact match
 * among custom routes (never $connect/$disconnect), else $default, else NULL (the caller sends
 * the Forbidden error frame). When the expression reads the body, the body is parsed once; the
 * parsed tree is handed to the caller in *body_json (NULL when not JSON; caller json_decref's).
 */
const route_route_t *route_ws_select(const route_api_t *api, const char *msg, size_t len,
                                     json_t **body_json);

/* Gateway error frame, byte-exact as spec 4.3:
 * {"message": "Forbidden", "connectionId":"...", "requestId":"..."} */
void route_error_frame(const char *message, const char *connection_id, const char *request_id,
                       buf_t *out);

/* ============================================================================================
 * Templates (VTL subset, spec 5.3) and parameter mapping (spec 5.2).
 * ========================================================================================== */

/*
 * Renders a mapping template. `input` is what $input refers to (the request body for request
 * templates, the integration response body for response templates), input_json its parse (NULL
 * when not JSON). Supports $input.body, $input.json('$.x'), $input.path('$.x'), $input.params(),
 * $context.*, $stageVariables.* / ${stageVariables.x} / $stageVariables['x'], $util.*
 * (escapeJavaScript, parseJson, urlEncode, urlDecode, base64Encode, base64Decode), and #if /
 * #elseif / #else / #end, #set, #foreach (capped at 1000 iterations). Returns PT_OK or PT_EPARSE
 * (err says why).
 */
int route_template_render(const char *tmpl, const route_ctx_t *ctx, const char *input,
                          size_t input_len, const json_t *input_json, buf_t *out, buf_t *err);

/* Picks the request template of an integration: evaluated templateSelectionExpression, then
 * "$default", then "application/json". NULL when the integration has none. */
const char *route_request_template(const route_integration_t *integ, const route_ctx_t *ctx);

/* Substitutes ${stageVariables.name} in text (missing variables become ""). */
void route_subst_stage_vars(const char *text, const route_stage_t *stage, buf_t *out);

/* ============================================================================================
 * Integration requests and outcomes. The gateway asks routes/ what to send and what a result
 * means; the integration thread only moves bytes.
 * ========================================================================================== */

typedef struct route_http_req {
    char *method;
    char *url;
    buf_t headers; /* "Name: value\r\n" lines */
    char *body;    /* may be NULL */
    size_t body_len;
    int timeout_ms;
    /* Non-NULL for a Lambda Invoke (route_lambda_request): the gateway must SigV4-sign the
     * request for this service ("lambda") and region right before sending it. */
    char *sign_service;
    char *sign_region;
} route_http_req_t;

void route_http_req_free(route_http_req_t *r);

/*
 * Builds the backend request for an HTTP, HTTP_PROXY or AWS_PROXY (http/https URI) integration
 * (spec 5, 6, 6.6): URI with stage variables, requestParameters, forwarded headers and
 * X-Forwarded-*, the Lambda proxy event for AWS_PROXY, the rendered template for HTTP. An
 * AWS_PROXY integrationUri that names a function becomes a Lambda Invoke (route_lambda_request,
 * with ctx->lambda), which the gateway must sign (sign_service set).
 * Returns PT_OK, or PT_EINVAL / PT_EUNSUPPORTED (an AWS integration) with a reason in err (may
 * be NULL); the caller answers as an integration failure.
 */
int route_integ_request(const route_integration_t *integ, const route_ctx_t *ctx,
                        route_http_req_t *out, buf_t *err);

/* What came back from the backend. */
typedef struct route_integ_result {
    int error;  /* PT_OK, PT_ETIMEOUT, PT_EIO (unreachable/reset), PT_ETOOBIG */
    int status; /* HTTP status when error == PT_OK */
    const http_header_t *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
    bool function_error; /* Lambda X-Amz-Function-Error was set */
} route_integ_result_t;

/* What the gateway must do with it. */
typedef struct route_outcome {
    /* CONNECT: 2xx accepts; anything else rejects the handshake with that status and body. */
    int status;
    char *body; /* CONNECT rejection body (may be NULL) */
    size_t body_len;
    char *content_type;
    char *subprotocol; /* CONNECT accept: Sec-WebSocket-Protocol to answer, NULL for none */
    /* MESSAGE: a frame to send back (two-way result or an error frame), NULL for none. */
    char *frame;
    size_t frame_len;
    bool frame_binary;
    bool integration_error; /* counted as IntegrationError / ExecutionError in metrics */
} route_outcome_t;

void route_outcome_free(route_outcome_t *o);

/* Interprets a backend result for the context's event kind (spec 2.3, 4.2, 4.3, 6.5). */
void route_integ_outcome(const route_integration_t *integ, const route_ctx_t *ctx,
                         const route_integ_result_t *res, route_outcome_t *out);

/* Runs a MOCK integration inline (no backend) and fills the outcome. */
void route_mock_run(const route_integration_t *integ, const route_ctx_t *ctx, route_outcome_t *out);

/* ============================================================================================
 * Lambda Invoke (AWS_PROXY integrations whose integrationUri names a function; routes/lambda.c,
 * docs/lambda.md). Pure: the gateway resolves credentials and the endpoint once at start-up
 * (gateway/aws.c) and signs each request right before it is submitted.
 * ========================================================================================== */

/* Where and how to invoke; resolved by the gateway. Strings are borrowed. */
typedef struct route_lambda_env {
    const char *region;   /* for function names and ARNs without one; NULL: "us-east-1" */
    const char *endpoint; /* normalised override ("http://127.0.0.1:3002"); NULL: AWS */
} route_lambda_env_t;

/* A function reference, split. Strings owned (route_lambda_ref_free). */
typedef struct route_lambda_ref {
    char *function;  /* as the user named it: a function ARN or a name, qualifier included */
    char *name;      /* the function's name alone */
    char *qualifier; /* alias or version, NULL when none */
    char *region;    /* from the ARN, NULL for a bare name */
    char *account;   /* from the ARN, NULL for a bare name */
} route_lambda_ref_t;

/* True when an AWS_PROXY integrationUri names a Lambda function (anything but an http(s)
 * URL): the integration is then a Lambda Invoke. */
bool route_lambda_is_ref(const char *uri);

/*
 * Splits a function reference (stage variables already substituted):
 *   arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/{functionArn}/invocations
 *   arn:{partition}:lambda:{region}:{account}:function:{name}[:{qualifier}]
 *   {name}[:{qualifier}]
 * Names are 1-64 of [A-Za-z0-9_-], qualifiers 1-128 of [A-Za-z0-9$_-] (Lambda's own rules).
 * Returns PT_OK (free *out with route_lambda_ref_free) or PT_EINVAL with the reason in err
 * (may be NULL); *out is then empty.
 */
int route_lambda_parse(const char *ref, route_lambda_ref_t *out, buf_t *err);
void route_lambda_ref_free(route_lambda_ref_t *r);

/*
 * Checks and normalises an Invoke endpoint override: "http(s)://host[:port][/base]" with no
 * user info, query or fragment; the scheme is lower-cased and trailing '/' removed. Appends
 * it to out. Returns PT_OK or PT_EINVAL (reason in err, may be NULL).
 */
int route_lambda_endpoint_norm(const char *url, buf_t *out, buf_t *err);

/*
 * THE HOOK for any AWS_PROXY integration that names a function (WebSocket here; REST and HTTP
 * APIs call it too). Substitutes ${stageVariables.x} in uri (the integrationUri as configured),
 * parses it and fills out with: method POST, url
 *   {endpoint}/2015-03-31/functions/{function}/invocations[?Qualifier={qualifier}]
 * headers "Host" and "Content-Type: application/json", sign_service "lambda" and sign_region
 * (the function's region). The endpoint is env->endpoint, else
 * https://lambda.{region}.amazonaws.com (.com.cn for cn-*). An AWS endpoint (a host under
 * amazonaws.com) gets the function as named (full ARN, qualifier included); any other endpoint
 * (a local runtime: serverless-offline answers 404 to ARNs and to "name:alias") gets the bare
 * name and ?Qualifier=. The caller then sets body (the event) and timeout_ms, and the gateway
 * signs (gw_aws_sign) and submits. Returns PT_OK, or PT_EINVAL with the reason in err (may be
 * NULL); out is then empty.
 */
int route_lambda_request(const char *uri, const route_stage_t *stage, const route_lambda_env_t *env,
                         route_http_req_t *out, buf_t *err);

/* ============================================================================================
 * Lambda proxy events and results (spec 6).
 * ========================================================================================== */

/* Appends the exact Lambda proxy event (CONNECT, MESSAGE or DISCONNECT) as JSON text. */
void route_event_ws(const route_ctx_t *ctx, buf_t *out);

typedef struct route_proxy_result {
    int status_code; /* -1 when absent */
    char *body;      /* decoded text; NULL when absent */
    size_t body_len;
    bool is_base64;
    json_t *headers;             /* object or NULL (owned) */
    json_t *multi_value_headers; /* object or NULL (owned) */
} route_proxy_result_t;

/* Parses a Lambda proxy result. Returns PT_OK or PT_EPARSE. Free with route_proxy_result_free. */
int route_proxy_result_parse(const char *text, size_t len, route_proxy_result_t *res);
void route_proxy_result_free(route_proxy_result_t *res);
/* Case-insensitive header lookup in headers, then multiValueHeaders (first value). */
const char *route_proxy_result_header(const route_proxy_result_t *res, const char *name);

/* ============================================================================================
 * HTTP APIs (protocolType HTTP; spec 14, docs/rest.md): route matching (http_match.c), Lambda
 * proxy events of payload formats 1.0 and 2.0 (http_event.c), 2.0 results (http_result.c), the
 * backend request, the client's response and MOCK (http_integ.c), CORS (cors.c).
 * ========================================================================================== */

/* corsConfiguration (apigatewayv2 Cors). Strings are owned by the config. */
typedef struct route_cors {
    char **allow_origins; /* origins, "*", or any origin of a scheme ("https://" then "*") */
    size_t nallow_origins;
    char **allow_methods; /* methods or "*" */
    size_t nallow_methods;
    char **allow_headers; /* header names or "*" */
    size_t nallow_headers;
    char **expose_headers;
    size_t nexpose_headers;
    int max_age; /* seconds (-1..86400) when has_max_age */
    bool has_max_age;
    bool allow_credentials;
} route_cors_t;

/* Checks an HTTP API routeKey: "$default", or "METHOD /path" with METHOD one of ANY, GET,
 * POST, PUT, PATCH, DELETE, HEAD, OPTIONS and path segments that are literal text, {name} or
 * a last {name+}. Returns PT_OK or PT_EINVAL with the reason in err (may be NULL). */
int route_http_key_check(const char *key, buf_t *err);

#define ROUTE_HTTP_MAX_PARAMS 16

typedef struct route_http_param {
    const char *name; /* the variable's name (config storage; "proxy" for {proxy+}) */
    const char *raw;  /* its text in the request path, still percent-encoded */
    size_t raw_len;
} route_http_param_t;

typedef struct route_http_match {
    const route_route_t *route; /* NULL when nothing matched (404) */
    route_http_param_t params[ROUTE_HTTP_MAX_PARAMS];
    size_t nparams;
} route_http_match_t;

/*
 * Picks the route of an HTTP API for a request, with API Gateway's precedence (http_match.c):
 * path first, segment by segment (literal > {param} > {greedy+}), then the request's method
 * over ANY, then $default. path is the request path after the stage or mapping key, raw
 * ("" means "/"); m's params point into it. Read-only on the API: any thread.
 */
void route_http_match(const route_api_t *api, const char *method, size_t method_len,
                      const char *path, size_t path_len, route_http_match_t *m);

/* One HTTP API request, for events and integration requests. Pointers are borrowed. */
typedef struct route_http_ctx {
    const route_api_t *api;
    const route_stage_t *stage;
    const route_http_match_t *match; /* the route and its path variables */
    const char *request_id;
    const char *domain_name; /* Host without its port */
    const char *account_id;
    const char *region;
    int64_t request_time_ms;
    const char *source_ip;
    int server_port; /* X-Forwarded-Port */
    bool tls;
    const char *trace_id; /* X-Amzn-Trace-Id: "Root=1-..." */
    const char *method;
    size_t method_len;
    const char *path; /* the request path as sent (1.0 path) */
    size_t path_len;
    const char *rel_path; /* after the stage or mapping key: what routes match */
    size_t rel_path_len;
    const char *raw_path; /* 2.0 rawPath: path, or rel_path under an API mapping */
    size_t raw_path_len;
    const char *query; /* raw query string without '?', NULL when none */
    size_t query_len;
    int minor_version; /* HTTP/1.x */
    const http_header_t *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
    const route_lambda_env_t *lambda; /* Lambda Invoke settings; NULL: region, AWS */
    /* requestContext.authorizer of the events, already shaped for the payload format
     * ({"lambda": ...}, {"jwt": ...}, {"iam": ...}); NULL when no authorizer ran (issue 7). */
    const json_t *authorizer;
} route_http_ctx_t;

/* Appends the Lambda proxy event of payload format 2.0 (v2) or 1.0 as JSON text. */
void route_http_event(const route_http_ctx_t *ctx, bool v2, buf_t *out);

/*
 * Builds the backend request of an HTTP API's HTTP_PROXY or AWS_PROXY integration. An
 * AWS_PROXY integrationUri that names a function becomes a Lambda Invoke
 * (route_lambda_request), which the gateway signs (sign_service set) before submitting it.
 * Returns PT_OK or PT_EINVAL with a reason in err (may be NULL); out is then empty.
 */
int route_http_integ_request(const route_integration_t *integ, const route_http_ctx_t *ctx,
                             route_http_req_t *out, buf_t *err);

/* What the client gets. Owned; free with route_http_response_free. */
typedef struct route_http_response {
    int status;
    route_kv_t *headers; /* in order; the gateway adds Date, Content-Length, Connection */
    size_t nheaders, cap;
    char *body; /* NUL-terminated, not counted */
    size_t body_len;
    int64_t head_length; /* HEAD through HTTP_PROXY: the backend's Content-Length, else -1 */
    bool gateway;        /* an answer of the gateway itself (an error), not the integration's */
    const char *error;   /* static text for logs and $context.error.message, NULL when fine */
} route_http_response_t;

void route_http_response_free(route_http_response_t *r);
/* Appends a header (names that are not tokens are dropped; CR, LF, NUL become spaces). */
void route_http_response_header(route_http_response_t *r, const char *name, const char *val,
                                size_t vl);
/* First value of a header (case-insensitive), or NULL. */
const char *route_http_response_get(const route_http_response_t *r, const char *name);
/* Replaces r with the gateway's answer for status: {"message":"Not Found"} (404), "Request
 * Entity Too Large" (413), "Service Unavailable" (503), "Endpoint request timed out" (504),
 * "Internal Server Error" (500, 502 and anything else). */
void route_http_error(int status, route_http_response_t *out);
/* Interprets a backend result (http_integ.c has the table of failures). */
void route_http_outcome(const route_integration_t *integ, const route_http_ctx_t *ctx,
                        const route_integ_result_t *res, route_http_response_t *out);
/* Runs a MOCK integration: status from the request template's {"statusCode": N} (200 without
 * one), body from the matching integration response's template, $input = the request body. */
void route_http_mock(const route_integration_t *integ, const route_http_ctx_t *ctx,
                     route_http_response_t *out);

/* A payload format 2.0 Lambda result (http_result.c). */
typedef struct route_http_result {
    int status_code;
    char *body; /* decoded, NUL-terminated; NULL when none */
    size_t body_len;
    json_t *headers; /* object of strings or NULL (owned) */
    json_t *cookies; /* array of strings or NULL (owned) */
    bool inferred;   /* no statusCode: 200, application/json, the JSON itself as the body */
} route_http_result_t;

/* Returns PT_OK or PT_EPARSE (malformed). Free with route_http_result_free. */
int route_http_result_parse_v2(const char *text, size_t len, route_http_result_t *res);
void route_http_result_free(route_http_result_t *res);

/* CORS (cors.c). */
bool route_cors_origin_allowed(const route_cors_t *c, const char *origin, size_t n);
/* True for Access-Control-* header names. */
bool route_cors_is_cors_header(const char *name, size_t n);
/* The gateway's answer to a preflight (OPTIONS with Origin and Access-Control-Request-Method):
 * 204 with the configured headers when the origin is allowed, without them otherwise. method
 * and hdrs are Access-Control-Request-Method / -Headers (hdrs may be NULL). */
void route_cors_preflight(const route_cors_t *c, const char *origin, size_t olen,
                          const char *method, size_t mlen, const char *hdrs, size_t hlen,
                          route_http_response_t *out);
/* For an actual response: removes the integration's Access-Control-* headers (AWS ignores
 * them when CORS is configured) and adds the configured ones when origin is allowed. A NULL
 * c leaves r as it is. */
void route_cors_apply(const route_cors_t *c, const char *origin, size_t olen,
                      route_http_response_t *r);

#endif
