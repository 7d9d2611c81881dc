/* cb.h: the @connections management API's decisions: authorization, ids, AWS error shapes. */
#ifndef PORTICO_CALLBACK_CB_H
#define PORTICO_CALLBACK_CB_H

#include "common/buf.h"
#include "common/http.h"
#include "common/id.h"
#include "common/sigv4.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pure logic (spec 7 and 8): given a request on /{stage}/@connections/{id}, decide whether to
 * answer at once (an error, with AWS's status, x-amzn-ErrorType and body) or to hand the
 * operation to the worker that owns the connection. No I/O; the gateway does the delivery.
 */

typedef enum cb_op {
    CB_OP_POST = 1, /* PostToConnection */
    CB_OP_GET,      /* GetConnection */
    CB_OP_DELETE,   /* DeleteConnection */
} cb_op_t;

/* A credential allowed to call the API (server.credentials[]). */
typedef struct cb_cred {
    sigv4_cred_t sig;
    const char *const *stages; /* stages it may manage; NULL = all */
    size_t nstages;
} cb_cred_t;

typedef struct cb_config {
    const cb_cred_t *creds;
    size_t ncreds;
    const char *region;
    const char *account_id;
    uint8_t node;
    int nworkers;
    bool explain_signature; /* include canonical request and string-to-sign on mismatch */
} cb_config_t;

typedef struct cb_request {
    const char *method;
    size_t method_len;
    const char *target; /* raw request-target, as sent */
    size_t target_len;
    const http_header_t *headers;
    size_t nheaders;
    const void *body;
    size_t body_len;
    const char *stage; /* resolved stage name */
    const char *api_id;
    const char *id_enc; /* the {connectionId} path segment, still percent-encoded */
    size_t id_enc_len;
} cb_request_t;

typedef struct cb_decision {
    bool deliver; /* true: hand op to worker `worker`; false: answer with status/body */
    cb_op_t op;
    char id[ID_LEN + 1];
    int worker;
    int status;
    const char *error_type; /* x-amzn-ErrorType, NULL for none (static string) */
    buf_t body;             /* caller frees with buf_free */
} cb_decision_t;

/* Decides. now is unix seconds. cache may be NULL. Never fails: every outcome is a decision. */
void cb_decide(const cb_request_t *req, const cb_config_t *cfg, int64_t now, sigv4_cache_t *cache,
               cb_decision_t *out);

/* GetConnection's body: {"connectedAt":..., "identity":{"sourceIp":..., "userAgent":...},
 * "lastActiveAt":...} with ISO-8601 millisecond times; userAgent null when unknown. */
void cb_get_body(int64_t connected_at_ms, const char *source_ip, const char *user_agent,
                 int64_t last_active_at_ms, buf_t *out);

#endif
