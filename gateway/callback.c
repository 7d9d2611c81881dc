/* callback.c: @connections requests: decide (callback/), deliver on the owner worker, answer. */
#include "gateway/gw.h"
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Answers the caller; every answer carries x-amzn-RequestId as AWS's do (spec 7.2). */
static void cb_answer(gw_conn_t *c, int status, const char *error_type, const char *body,
                      size_t body_len)
{
    char rid[ID_LEN + 1];
    id_request_new(&c->w->ids, rid);
    char extra[192];
    static const char rid_h[] = "x-amzn-RequestId: ", et_h[] = "\r\nx-amzn-ErrorType: ";
    size_t et_len = error_type ? strlen(error_type) : 0;
    if (sizeof rid_h + ID_LEN + sizeof et_h + et_len + 2 < sizeof extra) {
        /* No printf on the push path: the two header lines are copied together. */
        char *p = extra;
        memcpy(p, rid_h, sizeof rid_h - 1);
        p += sizeof rid_h - 1;
        memcpy(p, rid, ID_LEN);
        p += ID_LEN;
        if (error_type) {
            memcpy(p, et_h, sizeof et_h - 1);
            p += sizeof et_h - 1;
            memcpy(p, error_type, et_len);
            p += et_len;
        }
        memcpy(p, "\r\n", 3); /* with the NUL */
    } else {
        snprintf(extra, sizeof extra, "x-amzn-RequestId: %s\r\nx-amzn-ErrorType: %s\r\n", rid,
                 error_type);
    }
    gw_m_cb(c->w, c->req, status);
    gw_http_respond(c, status, "application/json", extra, body, body_len);
    gw_http_done(c);
}

/* Runs an operation on a connection of this worker. */
static void do_op(gw_worker_t *w, gw_cb_op_t op, const char *id, const char *data, size_t len,
                  int *status, const char **error_type, buf_t *body)
{
    gw_conn_t *c = gw_table_get(&w->table, id);
    *error_type = NULL;
    if (!c || c->state != GW_CS_WS || c->fd < 0) {
        /* Unknown, closed, or still connecting ($connect running): 410 (spec 7.2). */
        *status = 410;
        *error_type = "GoneException";
        return;
    }
    switch (op) {
    case GW_CB_POST: {
        int rc = gw_ws_send_msg(c, data, len, false);
        if (rc == PT_OK) {
            gw_ctr_add(&w->stats.pushes, 1);
            *status = 200;
        } else if (rc == PT_EFULL) {
            *status = 429;
            *error_type = "LimitExceededException";
        } else {
            *status = 410;
            *error_type = "GoneException";
        }
        break;
    }
    case GW_CB_GET:
        cb_get_body(c->ws->connected_at_ms, c->ws->source_ip, c->ws->user_agent,
                    c->ws->last_active_ms, body);
        *status = 200;
        break;
    case GW_CB_DELETE:
        /* Close 1000 toward the client; $disconnect gets 1000 "Connection Closed Normally". */
        gw_ws_close(c, WS_CLOSE_NORMAL, "Connection Closed Normally");
        *status = 204;
        break;
    }
}

void gw_cb_request(gw_conn_t *c, const route_api_t *api, const route_stage_t *stage,
                   const char *id_enc, size_t id_len)
{
    gw_worker_t *w = c->w;
    gw_server_t *srv = w->srv;
    const http_request_t *r = c->req;
    cb_request_t req = {
        .method = r->method,
        .method_len = r->method_len,
        .target = r->target,
        .target_len = r->target_len,
        .headers = r->headers,
        .nheaders = r->nheaders,
        .body = c->body.p ? c->body.p : "",
        .body_len = c->body.len,
        .stage = stage->name,
        .api_id = api->id,
        .id_enc = id_enc,
        .id_enc_len = id_len,
    };
    cb_decision_t d;
    cb_decide(&req, &srv->cbcfg, (int64_t)time(NULL), &w->sigv4_cache, &d);
    if (!d.deliver) {
        cb_answer(c, d.status, d.error_type, d.body.p, d.body.len);
        buf_free(&d.body);
        return;
    }
    buf_free(&d.body);
    /* Issue 7: @connections has its own token bucket. Only signed requests take tokens, so an
     * anonymous flood cannot lock the backends out of their own push API. */
    if (!gw_limits_cb_take(srv->limiter)) {
        cb_answer(c, 429, "LimitExceededException", NULL, 0);
        return;
    }
    gw_cb_op_t op = d.op == CB_OP_POST ? GW_CB_POST : d.op == CB_OP_GET ? GW_CB_GET : GW_CB_DELETE;
    if (d.worker == w->index) {
        int status;
        const char *et;
        buf_t body = BUF_INIT;
        do_op(w, op, d.id, c->body.p, c->body.len, &status, &et, &body);
        cb_answer(c, status, et, body.p, body.len);
        buf_free(&body);
        return;
    }
    /* Owned by another worker: park this request and ask the owner through its inbox. */
    gw_cb_msg_t *m = pt_xcalloc(1, sizeof *m);
    m->msg.type = GW_MSG_CB_REQ;
    m->op = op;
    memcpy(m->id, d.id, sizeof m->id);
    m->reply_worker = w->index;
    m->reply_token = gw_park(c);
    if (op == GW_CB_POST && c->body.len) {
        size_t n;
        m->data = buf_steal(&c->body, &n);
        m->len = n;
    }
    gw_conn_set_events(c);
    if (!gw_worker_post(&srv->workers[d.worker], &m->msg)) {
        gw_unpark(w, m->reply_token);
        free(m->data);
        free(m);
        c->state = GW_CS_HEAD;
        cb_answer(c, 410, "GoneException", NULL, 0);
    }
}

void gw_cb_on_msg(gw_worker_t *w, gw_cb_msg_t *m)
{
    int status;
    const char *et;
    buf_t body = BUF_INIT;
    do_op(w, m->op, m->id, m->data, m->len, &status, &et, &body);
    free(m->data);
    m->data = NULL;
    m->len = 0;
    if (body.p) {
        size_t n;
        m->data = buf_steal(&body, &n);
        m->len = n;
    }
    m->status = status;
    m->msg.type = GW_MSG_CB_REPLY;
    m->error_type = et; /* static string */
    if (!gw_worker_post(&w->srv->workers[m->reply_worker], &m->msg)) {
        free(m->data);
        free(m);
    }
}

void gw_cb_on_reply(gw_worker_t *w, gw_cb_msg_t *m)
{
    if (w->is_admin) {
        gw_admin_on_reply(w, m); /* DELETE /connections/{id} on the admin port */
        return;
    }
    gw_conn_t *c = gw_unpark(w, m->reply_token);
    if (c && c->fd >= 0) {
        c->state = GW_CS_HEAD; /* back from PARKED; gw_http_done decides what follows */
        cb_answer(c, m->status, m->error_type, m->data, m->len);
    }
    free(m->data);
    free(m);
}
