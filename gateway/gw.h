/* gw.h: the gateway process's internal interfaces (workers, connections, loop, logging). */
#ifndef PORTICO_GATEWAY_GW_H
#define PORTICO_GATEWAY_GW_H

/*
 * Runtime shape (DESIGN section 3), with one change from the design notes: Portico runs its
 * own epoll loop and speaks HTTP/1.1 and WebSocket itself instead of embedding libwebsockets
 * 4.1.6. Reasons, all measured in docs/lws-notes.md and docs/async-connect.md:
 *   - lws cannot hold a 101 while $connect runs; the workaround (peek, dup, re-adopt the socket
 *     with a replayed head) costs 40-75 us per hand-over. Here the 101 is simply not written
 *     until the integration answers.
 *   - lws 4.1.6 spins forever on pipelined requests with bodies (a remote DoS), writes HTTP/1.0
 *     status lines on rejections, drops connections without a response on unknown
 *     subprotocols or heads over 4 KB, and aborts the process on internal asserts.
 *   - An idle lws connection costs about 10 KB; ours costs a few hundred bytes, because read
 *     buffers are per worker and a connection only owns bytes it has not finished parsing.
 * The parsers (common/http.c, common/ws.c) are pure functions with fuzz targets.
 *
 * Threads: N workers (each an epoll loop with its own SO_REUSEPORT listener and inbox), one
 * admin loop (the admin port), the integration thread (integrations/), and the main thread,
 * which only waits for signals. A connection lives on one worker for its whole life; other
 * threads reach it through that worker's inbox.
 */

#include "callback/cb.h"
#include "common/buf.h"
#include "common/http.h"
#include "common/id.h"
#include "common/inbox.h"
#include "common/sigv4.h"
#include "common/ws.h"
#include "integrations/integ.h"
#include "routes/route.h"
#include "routes/security.h"
#include "store/store.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- logging ----------------------------------------------------------------------------- */

enum { GW_LOG_ERROR = 0, GW_LOG_WARN = 1, GW_LOG_INFO = 2, GW_LOG_DEBUG = 3 };

void gw_log_set_level(int level);
int gw_log_level(void);
int gw_log_parse_level(const char *s);
void gw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define GW_LOG(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= gw_log_level())                                                               \
            gw_log((lvl), __VA_ARGS__);                                                            \
    } while (0)
#define LOG_ERROR(...) GW_LOG(GW_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...)  GW_LOG(GW_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...)  GW_LOG(GW_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) GW_LOG(GW_LOG_DEBUG, __VA_ARGS__)

/* ---- timer queues ------------------------------------------------------------------------ */

/*
 * A timer queue holds entries that all share one duration, so appending keeps it sorted by
 * deadline and every operation is O(1): idle timeouts move an entry to the tail on activity,
 * expiry pops from the head. One queue per timeout kind per worker.
 */
typedef struct gw_tnode {
    struct gw_tnode *prev;
    struct gw_tnode *next;
    struct gw_tqueue *q; /* the queue it is in, NULL when not armed */
    int64_t deadline_ms; /* monotonic */
} gw_tnode_t;

typedef struct gw_tqueue {
    gw_tnode_t head; /* sentinel */
    int64_t duration_ms;
} gw_tqueue_t;

void gw_tq_init(gw_tqueue_t *q, int64_t duration_ms);
void gw_tq_push(gw_tqueue_t *q, gw_tnode_t *n, int64_t now_ms);
void gw_tq_remove(gw_tnode_t *n);
bool gw_tq_linked(const gw_tnode_t *n);
/* The first expired node (removed), or NULL. */
gw_tnode_t *gw_tq_pop_expired(gw_tqueue_t *q, int64_t now_ms);
/* Milliseconds until the head expires (0 if due), or -1 when empty. */
int64_t gw_tq_next(const gw_tqueue_t *q, int64_t now_ms);

/* ---- connections ------------------------------------------------------------------------- */

struct gw_worker;
struct gw_server;

typedef enum gw_conn_state {
    GW_CS_HEAD = 1, /* reading a request head */
    GW_CS_BODY,     /* reading a request body */
    GW_CS_PARKED,   /* waiting for another thread to answer an HTTP request */
    GW_CS_PENDING,  /* upgrade held while $connect runs */
    GW_CS_COMMIT,   /* accepted; waiting for the registry commit before the 101 */
    GW_CS_WS,       /* WebSocket open */
    GW_CS_CLOSING,  /* flushing the last bytes, then close */
} gw_conn_state_t;

/* One queued chunk of output: bytes [off, len) of data still to write. */
typedef struct gw_out {
    struct gw_out *next;
    uint32_t len;
    uint32_t off;
    bool is_msg; /* counts against the message cap (data frames; not control frames) */
    char data[];
} gw_out_t;

/* WebSocket session data, allocated at upgrade. */
typedef struct gw_ws {
    char id[ID_LEN + 1];
    const route_api_t *api;
    const route_stage_t *stage;
    int64_t connected_at_ms;
    int64_t last_active_ms;    /* wall clock, for GetConnection's lastActiveAt */
    int64_t last_touch_ms;     /* last registry touch */
    char *source_ip;           /* owned */
    char *user_agent;          /* owned, NULL when the client sent none */
    char *domain;              /* owned: the Host the client used (port removed) */
    char *subprotocol;         /* owned: chosen by $connect, NULL for none */
    json_t *authorizer;        /* owned: requestContext.authorizer of every event, NULL for none */
    bool ip_counted;           /* counted in the per-IP limits: released when it is freed */
    route_bucket_t msg_bucket; /* messageRateLimitPerConnection, when set */
    char accept_key[29];
    /* message assembly */
    uint8_t frag_opcode; /* opcode of the message being reassembled, 0 when none */
    buf_t msg;           /* reassembled message (fragments), empty when none */
    ws_utf8_t utf8;
    /* close handshake */
    int close_code;     /* code the peer sent (1005 when none), 0 before any close */
    char *close_reason; /* owned */
    bool close_sent;
    bool peer_closed; /* the peer's close frame arrived */
    bool disconnect_fired;
    int server_close_code; /* code we closed with, 0 when the peer closed first */
    const char *server_close_reason;
    /* hash-table chain */
    struct gw_conn *hnext;
} gw_ws_t;

typedef struct gw_conn {
    int fd;
    uint32_t epoll_events;
    gw_conn_state_t state;
    bool is_admin;
    bool want_close; /* close once the output drains */
    bool keep_alive; /* HTTP: keep the connection after this response */
    bool in_flush_list;
    bool write_blocked; /* writev hit EAGAIN (or wrote short): EPOLLOUT armed, flushes wait */
    bool read_paused;
    bool eof;
    bool in_process; /* inside the parser: handlers must not re-enter it */
    struct gw_worker *w;
    /* unparsed input; NULL when none (idle connections own no buffer) */
    char *rbuf;
    uint32_t rlen;
    uint32_t rcap;
    /* output queue */
    gw_out_t *out_head;
    gw_out_t *out_tail;
    uint32_t out_msgs;
    uint32_t out_bytes;
    /* timers */
    gw_tnode_t t_main; /* head / body / pending / idle, by state */
    gw_tnode_t t_age;  /* max connection age (WebSocket) */
    /* HTTP request in progress (head kept while the body arrives or while parked) */
    char *req_head; /* owned copy of the head bytes, NULL when none */
    size_t req_head_len;
    http_request_t *req; /* parsed view into req_head, owned */
    uint64_t body_expected;
    buf_t body;
    uint64_t park_token;
    /* WebSocket */
    gw_ws_t *ws;
    struct gw_conn *flush_next;
    struct gw_conn *commit_next;
    struct gw_conn *dead_next;
    struct gw_conn *all_prev; /* every connection of the worker */
    struct gw_conn *all_next;
    char peer_ip[64];
    int local_port;
} gw_conn_t;

/* ---- inbox messages ---------------------------------------------------------------------- */

enum {
    GW_MSG_INTEG = 1, /* an integration job finished */
    GW_MSG_CB_REQ,    /* an @connections operation for a connection of this worker */
    GW_MSG_CB_REPLY,  /* the answer to an @connections operation we forwarded */
    GW_MSG_STOP,      /* shut down */
};

typedef enum gw_call_kind {
    GW_CALL_CONNECT = 1,
    GW_CALL_MESSAGE,
    GW_CALL_DISCONNECT,
    GW_CALL_HTTP,  /* an HTTP API request (rest.c); the connection waits parked */
    GW_CALL_AUTHZ, /* a $connect's REQUEST authorizer (authz.c); the upgrade waits pending */
} gw_call_kind_t;

struct gw_rest;

/* What an integration result needs to be interpreted; hangs off integ_job_t.user. */
typedef struct gw_call {
    inbox_msg_t msg; /* first: the job comes back through the inbox wrapped in this */
    gw_call_kind_t kind;
    struct gw_worker *owner;
    const route_api_t *api;
    const route_stage_t *stage;
    const route_route_t *route;
    const route_integration_t *integ;
    char connection_id[ID_LEN + 1];
    char request_id[ID_LEN + 1];
    char message_id[ID_LEN + 1];
    unsigned attempt; /* $disconnect: which attempt this call is, 1 for the first (outbox.c) */
    int64_t connected_at_ms;
    int64_t request_time_ms;
    char *source_ip;      /* owned */
    char *user_agent;     /* owned */
    char *domain;         /* owned */
    integ_job_t *job;     /* owned */
    struct gw_rest *rest; /* owned: GW_CALL_HTTP's request state (rest.c), freed with the call */
    json_t *authorizer;   /* owned reference: requestContext.authorizer, NULL for none */
    /* GW_CALL_AUTHZ (and HTTP API authorizers): what the verdict is cached and judged by */
    const struct route_authorizer *az;
    char *az_key; /* owned: the cache key (route_identity_key), NULL when not cached */
    size_t az_key_len;
    char *az_arn; /* owned: the method ARN the policy must allow */
    int az_fetch; /* HTTP API JWT authorizers: 1 a JWK set, 2 OpenID discovery; 0 otherwise */
} gw_call_t;

typedef enum gw_cb_op {
    GW_CB_POST = 1,
    GW_CB_GET,
    GW_CB_DELETE,
} gw_cb_op_t;

typedef struct gw_cb_msg {
    inbox_msg_t msg;
    gw_cb_op_t op;
    char id[ID_LEN + 1];
    int reply_worker;
    uint64_t reply_token;
    /* request payload (POST) / reply body (GET) */
    char *data; /* owned */
    size_t len;
    int status;             /* reply: HTTP status */
    const char *error_type; /* reply: x-amzn-ErrorType (static string) or NULL */
} gw_cb_msg_t;

/* ---- workers and server ------------------------------------------------------------------ */

typedef struct gw_conn_table {
    gw_conn_t **slots;
    size_t mask;
    size_t count;
} gw_conn_table_t;

typedef struct gw_worker_stats {
    _Atomic uint64_t ws_open;  /* WebSocket connections open now */
    _Atomic uint64_t connects; /* accepted $connect */
    _Atomic uint64_t connect_rejects;
    _Atomic uint64_t messages_in;
    _Atomic uint64_t messages_out;
    _Atomic uint64_t pushes;
    _Atomic uint64_t http_requests;
} gw_worker_stats_t;

typedef struct gw_worker {
    int index;
    bool is_admin;
    struct gw_server *srv;
    int epfd;
    int listen_fd;
    bool listen_paused;
    int64_t listen_resume_ms;
    inbox_t inbox;
    id_gen_t ids;
    sigv4_cache_t sigv4_cache;
    /* per-worker read scratch buffer and request-head scratch */
    char *scratch;
    size_t scratch_cap;
    http_request_t req_scratch;
    /* the HTTP Date header's value, formatted once per second (conn.c) */
    int64_t date_s;
    char date[32];
    size_t date_len;
    /* connections */
    gw_conn_table_t table;    /* WebSocket connections by id */
    gw_tqueue_t tq_head;      /* first request head */
    gw_tqueue_t tq_keepalive; /* idle HTTP keep-alive */
    gw_tqueue_t tq_body;      /* request body */
    gw_tqueue_t tq_pending;   /* $connect backstop */
    gw_tqueue_t tq_idle;      /* WebSocket idle timeout */
    gw_tqueue_t tq_age;       /* WebSocket max age */
    gw_tqueue_t tq_closing;   /* flush before close */
    gw_conn_t *flush_list;
    gw_conn_t *commit_list; /* accepted, waiting for the batch commit */
    gw_conn_t *dead_list;   /* closed this turn, freed at its end */
    gw_conn_t *all_conns;   /* every open connection */
    store_batch_t *batch;
    struct gw_retry *retries; /* owned: failed $disconnects waiting, soonest first (outbox.c) */
    uint64_t next_park_token;
    /* parked HTTP requests: token -> conn (small open-addressing table) */
    gw_conn_t **parked;
    size_t parked_mask;
    size_t nparked;
    size_t nconns; /* every open TCP connection on this worker */
    bool stopping;
    int64_t stop_deadline_ms;
    pthread_t thread;
    gw_worker_stats_t stats;
    struct gw_wmetrics *m; /* this worker's metrics (ops.h), written by its thread only */
} gw_worker_t;

/* Portico's own AWS identity (aws.c): resolved once at start-up, read-only afterwards, so every
 * thread may read it. Secrets are wiped by gw_aws_dispose and never logged. */
typedef struct gw_aws {
    bool needed;               /* some integration invokes a Lambda function */
    char *access_key_id;       /* owned; NULL when none was found (requests go unsigned) */
    char *secret_access_key;   /* owned */
    char *session_token;       /* owned, NULL when none */
    const char *cred_source;   /* static text for logs: where the credentials came from */
    char profile[64];          /* the profile they came from, "" when none */
    char *region;              /* owned: the default region */
    char *endpoint;            /* owned: normalised Invoke endpoint override, NULL for AWS's */
    route_lambda_env_t lambda; /* what routes/ needs: points into the fields above */
} gw_aws_t;

typedef struct gw_server {
    route_config_t *cfg;
    const route_limits_t *limits;
    store_t *store;
    integ_t *integ;
    int nworkers;
    gw_worker_t *workers; /* nworkers + 1: the last is the admin loop */
    uint8_t node;
    uint64_t epoch;
    int listen_port;
    int admin_port;
    cb_config_t cbcfg;
    cb_cred_t *cbcreds;         /* owned */
    gw_aws_t aws;               /* Lambda Invoke credentials, region, endpoint */
    struct gw_azcache *azcache; /* owned: authorizer results by identity (authz.c) */
    struct gw_limits *limiter;  /* owned: shared throttles (limits.c) */
    int lock_fd;                /* flock on the data directory, held for the process's life */
    _Atomic uint64_t ws_total;  /* open WebSocket connections, all workers */
    _Atomic bool stopping;
    int64_t started_ms;
    struct gw_ops *ops;     /* metrics, access logs, status page (ops.h); owned */
    int64_t maintain_at_ms; /* next stale-reader check (outbox.c; admin loop only) */
} gw_server_t;

/* aws.c */
/* Resolves credentials, region and endpoint (docs/lambda.md). Returns PT_OK, or an error with
 * the reason in err (never a secret): malformed shared files, half-set credentials, an unknown
 * AWS_PROFILE, a bad endpoint, or no credentials while a Lambda is invoked through AWS. */
int gw_aws_init(gw_aws_t *a, const route_config_t *cfg, buf_t *err);
/* Logs where the credentials came from (key id prefix only), the region and the endpoint. */
void gw_aws_log(const gw_aws_t *a);
void gw_aws_dispose(gw_aws_t *a);
/*
 * THE SIGNING HOOK: signs hr (from route_lambda_request or route_integ_request) with SigV4 for
 * hr->sign_service in hr->sign_region at `now` (unix seconds), appending Authorization,
 * X-Amz-Date and X-Amz-Security-Token to hr->headers. Does nothing when hr->sign_service is
 * NULL or when no credentials were found (local runtime). cache: the calling thread's (a
 * worker's sigv4_cache). Returns PT_OK or PT_EINVAL (reason in err).
 */
int gw_aws_sign(const gw_aws_t *a, sigv4_cache_t *cache, route_http_req_t *hr, int64_t now,
                buf_t *err);

/* authz.c (authorizers: the call and the result cache; docs/security.md) */
typedef struct gw_azcache gw_azcache_t;
/* The cache shared by every worker (thread-safe; one lock). Destroy after the workers. */
gw_azcache_t *gw_azc_create(uint64_t seed);
void gw_azc_destroy(gw_azcache_t *c);
/* A live result for key: PT_OK with *status (200 or 403) and *context (a new reference or
 * NULL), or PT_ENOTFOUND (absent or expired). */
int gw_azc_get(gw_azcache_t *c, const char *key, size_t key_len, int64_t now_ms, int *status,
               json_t **context);
/* Keeps a verdict for ttl_s seconds (nothing when ttl_s <= 0); context is copied. */
void gw_azc_put(gw_azcache_t *c, const char *key, size_t key_len, int64_t now_ms, int ttl_s,
                int status, const json_t *context);
void gw_azc_stats(const gw_azcache_t *c, uint64_t *hits, uint64_t *misses);
/* Builds the authorizer's request around event (taken): a signed Lambda Invoke when the
 * authorizerUri names a function, else a JSON POST to the URL. Returns PT_OK or PT_EINVAL
 * (reason in err); hr is then empty. */
int gw_az_request(gw_worker_t *w, const struct route_authorizer *a, const route_stage_t *stage,
                  buf_t *event, route_http_req_t *hr, buf_t *err);
/* AWS's body for an authorizer's 401, 403 or 500 (static). */
const char *gw_az_body(int status, size_t *len);
/* JWT authorizers' key sets, by authorizer: a copy of the set's text (a jwksFile is read on
 * first use) and when it was fetched; PT_ENOTFOUND when none yet. */
int gw_jwks_get(gw_azcache_t *c, const struct route_authorizer *a, char **text,
                int64_t *fetched_ms);
void gw_jwks_set(gw_azcache_t *c, const struct route_authorizer *a, const char *text, size_t len,
                 int64_t now_ms);
/* The set's URL: jwksUri, else the one OpenID discovery found (a copy), else NULL. */
char *gw_jwks_uri(gw_azcache_t *c, const struct route_authorizer *a);
void gw_jwks_set_uri(gw_azcache_t *c, const struct route_authorizer *a, const char *uri);
/* AWS_IAM: SigV4 (Authorization header or presigned query) by one of server.credentials whose
 * invokeResources match arn (execute-api:Invoke). 200, or 403 with AWS's x-amzn-ErrorType in
 * *error_type (static) and the message appended to msg. */
int gw_iam_check(gw_worker_t *w, const http_request_t *req, const void *body, size_t body_len,
                 const char *arn, const char **error_type, buf_t *msg);
/* API keys (apiKeyRequired): the key (the x-api-key header, or usage_key, the authorizer's
 * usageIdentifierKey, per the API's apiKeySelectionExpression) must be an enabled key of a
 * usage plan that lists this API and stage; then the plan's throttles and quota. 200, or
 * 403 / 429 with AWS's message (static) in *message. */
int gw_apikey_check(gw_worker_t *w, const route_api_t *api, const route_stage_t *stage,
                    const char *route_key, const http_header_t *headers, size_t nheaders,
                    const char *usage_key, const char **message);
/* The API's resource policy (apis[].policy) for execute-api:Invoke on arn from ip: 200, or 403
 * with AWS's message appended to msg. 200 when the API has none. */
int gw_policy_check(gw_server_t *srv, const route_api_t *api, const char *arn, const char *ip,
                    buf_t *msg);

/* limits.c (throttles shared by every worker; docs/security.md). Thread-safe. */
typedef struct gw_limits gw_limits_t;
gw_limits_t *gw_limits_create(const route_config_t *cfg);
void gw_limits_destroy(gw_limits_t *l);
/* True when a request of route_key on stage has a throttle to pass (route, stage default or
 * server-wide); the callers skip gw_limits_take otherwise. */
bool gw_limits_active(const gw_limits_t *l, const route_stage_t *stage, const char *route_key);
/* Takes a token from the route's bucket, then the server-wide one: false when throttled. */
bool gw_limits_take(gw_limits_t *l, const route_stage_t *stage, const char *route_key);
/* The @connections bucket (connectionsApiRateLimit/BurstLimit), then the server-wide one. */
bool gw_limits_cb_take(gw_limits_t *l);
/* A new WebSocket from ip: PT_OK (counted: release it when it ends), PT_EFULL (at
 * maxConnectionsPerIp) or PT_EAGAIN (over connectRateLimitPerIp). */
int gw_limits_ip_connect(gw_limits_t *l, const char *ip);
void gw_limits_ip_release(gw_limits_t *l, const char *ip);
/* A request with an API key of a usage plan: the plan's route throttle and throttle
 * (PT_EFULL: 429 "Too Many Requests"), then its quota, counted in LMDB (PT_EEXPIRED: 429 "Limit
 * Exceeded"). PT_OK when it may go on. */
int gw_limits_plan_take(gw_limits_t *l, store_t *st, const struct route_usage_plan *plan,
                        const struct route_plan_stage *ps, const struct route_apikey *key,
                        const char *route_key);
/* Writes the quota counters changed since the last flush (at shutdown; also done about once a
 * second while counting). */
void gw_limits_flush(gw_limits_t *l, store_t *st);

/* server.c */
int gw_server_start(gw_server_t *srv, route_config_t *cfg, const char *port_file, buf_t *err);
void gw_server_stop(gw_server_t *srv);

/* worker.c */
int gw_worker_init(gw_worker_t *w, gw_server_t *srv, int index, int listen_fd, bool is_admin);
void gw_worker_dispose(gw_worker_t *w);
int gw_worker_run(gw_worker_t *w);
/* Posts a message into another worker's inbox (thread-safe). */
bool gw_worker_post(gw_worker_t *w, inbox_msg_t *m);
gw_conn_t *gw_worker_find(gw_worker_t *w, const char *id);

/* conn.c */
void gw_conn_accept(gw_worker_t *w, int fd, const char *peer_ip, int local_port);
void gw_conn_on_events(gw_conn_t *c, uint32_t events);
void gw_conn_close(gw_conn_t *c);
/* Queues bytes (copied). is_msg counts the chunk against the connection's message cap. */
void gw_conn_send(gw_conn_t *c, const void *data, size_t len, bool is_msg);
void gw_conn_flush(gw_conn_t *c);
void gw_conn_timeout(gw_conn_t *c, gw_tqueue_t *q);
/* Parses input kept while the connection was parked or pending, then re-arms reading. */
void gw_conn_resume(gw_conn_t *c);
void gw_worker_free_dead(gw_worker_t *w);
/* HTTP response with body; extra_headers are "Name: value\r\n" lines (may be NULL). */
void gw_http_respond(gw_conn_t *c, int status, const char *content_type, const char *extra_headers,
                     const void *body, size_t body_len);
/* Finishes an HTTP exchange: keep-alive goes back to reading heads, else close after flush. */
void gw_http_done(gw_conn_t *c);
void gw_conn_set_events(gw_conn_t *c);

/* wsconn.c (WebSocket side) */
/* Parses frames from data (unmasked in place); returns bytes consumed. */
size_t gw_ws_process(gw_conn_t *c, uint8_t *data, size_t len);
/* Queues a text/binary message; returns PT_OK, PT_EFULL when the queue is at its cap, or
 * PT_ECLOSED. */
int gw_ws_send_msg(gw_conn_t *c, const void *data, size_t len, bool binary);
/* Starts a server-initiated close with code and reason; $disconnect follows. */
void gw_ws_close(gw_conn_t *c, int code, const char *reason);
void gw_ws_established(gw_conn_t *c);
void gw_ws_on_closed(gw_conn_t *c);
void gw_ws_touch(gw_conn_t *c);

/* connect.c ($connect, messages, $disconnect: integrations glue) */
/* A job for call from a built request (its strings taken, hr zeroed), not yet submitted. */
integ_job_t *gw_call_job(gw_server_t *srv, gw_call_t *call, route_http_req_t *hr,
                         integ_done_cb done);
void gw_upgrade(gw_conn_t *c, const http_request_t *req, const route_api_t *api,
                const route_stage_t *stage);
void gw_message(gw_conn_t *c, const char *msg, size_t len);
void gw_disconnect(gw_worker_t *w, gw_ws_t *ws);
/* Fires the $disconnect integration with this code, reason and requestId, as attempt number
 * attempt (1 for the first). PT_OK when a call went out, PT_ENOTFOUND when the route has
 * nothing to call (logged), PT_EINVAL when the request could not be built. */
int gw_disconnect_fire(gw_worker_t *w, gw_ws_t *ws, int code, const char *reason,
                       const char *request_id, unsigned attempt);

/* outbox.c: the crash-safe $disconnect (store.h's outbox). owe queues the entry in w's batch
 * next to the registry delete; settle (on w) and settle_late (any thread, the worker being
 * gone) delete it once answered, or count a failed attempt, which w retries later (retry runs
 * the due ones, next_retry says in how many ms the next is due, -1 for none); recover sweeps
 * the registry left by an earlier run and fires what is owed on w, before any worker thread
 * runs; maintain clears stale LMDB reader slots every few seconds (admin loop). */
void gw_outbox_owe(gw_worker_t *w, const gw_ws_t *ws, int code, const char *reason,
                   const char *request_id);
void gw_outbox_settle(gw_worker_t *w, const gw_call_t *call);
void gw_outbox_settle_late(gw_server_t *srv, const gw_call_t *call);
void gw_outbox_retry(gw_worker_t *w, int64_t now_ms);
int64_t gw_outbox_next_retry(const gw_worker_t *w, int64_t now_ms);
void gw_outbox_retries_free(gw_worker_t *w);
int gw_outbox_recover(gw_server_t *srv, gw_worker_t *w);
void gw_outbox_maintain(gw_server_t *srv, int64_t now_ms);
void gw_on_integ(gw_worker_t *w, gw_call_t *call);
void gw_call_free(gw_call_t *call);
void gw_commit_turn(gw_worker_t *w);

/* http.c (request dispatch on the main and admin ports) */
void gw_http_request(gw_conn_t *c);
/* Largest body accepted for the request in c->req (its handler's limit). */
uint64_t gw_http_body_limit(gw_conn_t *c);
/* Answers a request whose Content-Length is over gw_http_body_limit (then closes). */
void gw_http_too_large(gw_conn_t *c);
void gw_admin_request(gw_conn_t *c);

/* rest.c (HTTP APIs: routes, integrations, CORS; docs/rest.md) */
/* Serves the request in c->req for an HTTP API (t from route_resolve): answers at once (MOCK,
 * CORS preflight, errors) or parks the connection until the integration's result comes back
 * through the worker's inbox (gw_rest_on_integ). */
void gw_rest_request(gw_conn_t *c, const route_target_t *t);
/* A GW_CALL_HTTP result (called by gw_on_integ); frees the call. */
void gw_rest_on_integ(gw_worker_t *w, gw_call_t *call);
/* Releases a call's HTTP state (gw_call_free calls it). NULL is a no-op. */
void gw_rest_free(struct gw_rest *r);
/* Answers an HTTP API request the gateway refuses before any route runs (the body limit:
 * 413), with AWS's body and request-id headers, then closes. */
void gw_rest_refuse(gw_conn_t *c, int status);

/* callback.c (@connections) */
void gw_cb_request(gw_conn_t *c, const route_api_t *api, const route_stage_t *stage,
                   const char *id_enc, size_t id_len);
void gw_cb_on_msg(gw_worker_t *w, gw_cb_msg_t *m);
void gw_cb_on_reply(gw_worker_t *w, gw_cb_msg_t *m);

/* parked HTTP requests */
uint64_t gw_park(gw_conn_t *c);
gw_conn_t *gw_unpark(gw_worker_t *w, uint64_t token);
void gw_park_drop(gw_conn_t *c);

/* conn table */
void gw_table_put(gw_conn_table_t *t, gw_conn_t *c);
void gw_table_del(gw_conn_table_t *t, gw_conn_t *c);
gw_conn_t *gw_table_get(const gw_conn_table_t *t, const char *id);

#endif
