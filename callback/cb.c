/* cb.c: the @connections management API's decisions (spec 7, 8). */
#include "callback/cb.h"
#include "common/err.h"
#include "common/timefmt.h"

#include <string.h>

typedef struct lookup_ctx {
    const cb_config_t *cfg;
} lookup_ctx_t;

static const sigv4_cred_t *lookup(void *ctx, const char *akid, size_t n)
{
    const cb_config_t *cfg = ((lookup_ctx_t *)ctx)->cfg;
    for (size_t i = 0; i < cfg->ncreds; i++) {
        const char *k = cfg->creds[i].sig.access_key_id;
        if (strlen(k) == n && memcmp(k, akid, n) == 0)
            return &cfg->creds[i].sig;
    }
    return NULL;
}

static void answer(cb_decision_t *out, int status, const char *error_type, const char *message)
{
    out->deliver = false;
    out->status = status;
    out->error_type = error_type;
    if (message) {
        buf_puts(&out->body, "{\"message\":");
        buf_json_str(&out->body, message, strlen(message));
        buf_putc(&out->body, '}');
    }
}

void cb_decide(const cb_request_t *req, const cb_config_t *cfg, int64_t now, sigv4_cache_t *cache,
               cb_decision_t *out)
{
    memset(out, 0, sizeof *out);
    cb_op_t op;
    if (http_ieq(req->method, req->method_len, "POST"))
        op = CB_OP_POST;
    else if (http_ieq(req->method, req->method_len, "GET"))
        op = CB_OP_GET;
    else if (http_ieq(req->method, req->method_len, "DELETE"))
        op = CB_OP_DELETE;
    else {
        /* The wording API Gateway uses for a path/method it has no route for (spec 7.2). */
        buf_t m = BUF_INIT;
        buf_printf(&m, "No method found matching route %s/@connections/%.*s for http method %.*s.",
                   req->stage, (int)req->id_enc_len, req->id_enc, (int)req->method_len,
                   req->method);
        answer(out, 403, "ForbiddenException", m.p);
        buf_free(&m);
        return;
    }
    out->op = op;

    /* Authentication first: an unsigned caller learns nothing about ids. */
    lookup_ctx_t lctx = {cfg};
    sigv4_request_t sreq = {
        .method = req->method,
        .method_len = req->method_len,
        .target = req->target,
        .target_len = req->target_len,
        .headers = req->headers,
        .nheaders = req->nheaders,
        .body = req->body,
        .body_len = req->body_len,
    };
    sigv4_verify_opts_t o = {
        .service = "execute-api",
        .region = cfg->region,
        .now = now,
        .max_skew_seconds = 300,
        .accept_single_encoding = true,
        .explain = cfg->explain_signature,
        .lookup = lookup,
        .lookup_ctx = &lctx,
        .cache = cache,
    };
    sigv4_result_t res;
    memset(&res, 0, sizeof res);
    int rc = sigv4_verify(&sreq, &o, &res);
    if (rc != PT_OK) {
        answer(out, 403, res.error_type && *res.error_type ? res.error_type : "ForbiddenException",
               res.message.p ? res.message.p : "Forbidden");
        buf_free(&res.message);
        return;
    }
    buf_free(&res.message);
    const cb_cred_t *cred = (const cb_cred_t *)res.cred; /* sig is the first member */
    if (cred->stages) {
        bool ok = false;
        for (size_t i = 0; i < cred->nstages && !ok; i++)
            ok = strcmp(cred->stages[i], req->stage) == 0;
        if (!ok) {
            buf_t m = BUF_INIT;
            static const char *verbs[] = {"", "POST", "GET", "DELETE"};
            buf_printf(&m,
                       "User: arn:aws:iam::%s:user/%s is not authorized to perform: "
                       "execute-api:ManageConnections on resource: "
                       "arn:aws:execute-api:%s:%s:%s/%s/%s/@connections/%.*s",
                       cfg->account_id, cred->sig.access_key_id, cfg->region, cfg->account_id,
                       req->api_id, req->stage, verbs[op], (int)req->id_enc_len, req->id_enc);
            answer(out, 403, "AccessDeniedException", m.p);
            buf_free(&m);
            return;
        }
    }

    /* The id: percent-decoded ('=' arrives as %3D); an id that cannot be ours is gone. */
    char id[64];
    long n =
        req->id_enc_len < sizeof id ? http_pct_decode(req->id_enc, req->id_enc_len, id, false) : -1;
    uint8_t node, worker;
    if (n != ID_LEN || !id_conn_owner(id, (size_t)n, &node, &worker) || node != cfg->node ||
        worker >= cfg->nworkers) {
        answer(out, 410, "GoneException", NULL);
        return;
    }
    memcpy(out->id, id, ID_LEN + 1);
    out->worker = worker;
    out->deliver = true;
}

void cb_get_body(int64_t connected_at_ms, const char *source_ip, const char *user_agent,
                 int64_t last_active_at_ms, buf_t *out)
{
    char a[32], b[32];
    time_iso_ms(connected_at_ms, a);
    time_iso_ms(last_active_at_ms, b);
    buf_printf(out, "{\"connectedAt\":\"%s\",\"identity\":{\"sourceIp\":", a);
    buf_json_str(out, source_ip ? source_ip : "", source_ip ? strlen(source_ip) : 0);
    buf_puts(out, ",\"userAgent\":");
    if (user_agent)
        buf_json_str(out, user_agent, strlen(user_agent));
    else
        buf_puts(out, "null");
    buf_printf(out, "},\"lastActiveAt\":\"%s\"}", b);
}
