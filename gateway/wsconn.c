/* wsconn.c: the WebSocket side of a connection: frames in, limits, messages out, closes. */
#include "gateway/gw.h"
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Queues a close frame and moves to CLOSING; the TCP side ends once the peer answers (or the
 * closing timer fires). */
static void send_close(gw_conn_t *c, int code, const char *reason)
{
    gw_ws_t *ws = c->ws;
    if (ws->close_sent)
        return;
    uint8_t frame[2 + 2 + 123];
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > 123)
        rlen = 123;
    size_t plen = code ? 2 + rlen : 0;
    size_t h = ws_write_header(frame, WS_OP_CLOSE, true, plen);
    if (code) {
        frame[h] = (uint8_t)(code >> 8);
        frame[h + 1] = (uint8_t)code;
        if (rlen)
            memcpy(frame + h + 2, reason, rlen);
    }
    gw_conn_send(c, frame, h + plen, false);
    ws->close_sent = true;
    c->state = GW_CS_CLOSING;
    c->want_close = true;
    gw_tq_remove(&c->t_age);
    gw_tq_push(&c->w->tq_closing, &c->t_main, time_mono_ms());
}

void gw_ws_close(gw_conn_t *c, int code, const char *reason)
{
    gw_ws_t *ws = c->ws;
    if (!ws || c->fd < 0 || ws->close_sent)
        return;
    if (!ws->close_code) {
        ws->server_close_code = code;
        ws->server_close_reason = reason;
    }
    send_close(c, code, reason);
    gw_conn_set_events(c);
}

void gw_ws_touch(gw_conn_t *c)
{
    gw_ws_t *ws = c->ws;
    ws->last_active_ms = time_now_ms();
    if (c->state == GW_CS_WS)
        gw_tq_push(&c->w->tq_idle, &c->t_main, time_mono_ms());
    /* The registry's lastActiveAt serves the CLI and admin API; GetConnection asks the owner. */
    if (ws->last_active_ms - ws->last_touch_ms >= 5000) {
        ws->last_touch_ms = ws->last_active_ms;
        store_batch_touch(c->w->batch, ws->id, ws->last_active_ms);
    }
}

int gw_ws_send_msg(gw_conn_t *c, const void *data, size_t len, bool binary)
{
    const route_limits_t *lim = c->w->srv->limits;
    if (c->fd < 0 || c->state != GW_CS_WS)
        return PT_ECLOSED;
    if (c->out_msgs >= lim->outbound_queue_messages ||
        (size_t)c->out_bytes + len > lim->outbound_queue_bytes) {
        gw_m_drop(c->w, c->ws);
        return PT_EFULL;
    }
    /* Outbound messages are cut into frames of at most max_frame_bytes, as AWS's 32 KB frame
     * limit suggests (spec 4.1); one allocation holds every frame of the message. */
    size_t fmax = lim->max_frame_bytes ? lim->max_frame_bytes : 32768;
    size_t nframes = len ? (len + fmax - 1) / fmax : 1;
    size_t total = len + nframes * 10;
    gw_out_t *o = pt_xmalloc(sizeof *o + total);
    uint8_t *p = (uint8_t *)o->data;
    const uint8_t *src = data;
    size_t left = len;
    uint8_t op = binary ? WS_OP_BINARY : WS_OP_TEXT;
    do {
        size_t n = left < fmax ? left : fmax;
        p += ws_write_header(p, op, n == left, n);
        if (n)
            memcpy(p, src, n);
        p += n;
        src += n;
        left -= n;
        op = WS_OP_CONT;
    } while (left > 0);
    o->next = NULL;
    o->len = (uint32_t)(p - (uint8_t *)o->data);
    o->off = 0;
    o->is_msg = true;
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->out_bytes += o->len;
    c->out_msgs++;
    if (!c->in_flush_list) {
        c->in_flush_list = true;
        c->flush_next = c->w->flush_list;
        c->w->flush_list = c;
    }
    gw_ctr_add(&c->w->stats.messages_out, 1); /* owner-only counters: no locked increment */
    gw_m_message_out(c->w, c->ws);
    gw_ws_touch(c);
    return PT_OK;
}

static void send_control(gw_conn_t *c, uint8_t op, const uint8_t *payload, size_t n)
{
    uint8_t frame[2 + 125];
    size_t h = ws_write_header(frame, op, true, n);
    if (n)
        memcpy(frame + h, payload, n);
    gw_conn_send(c, frame, h + n, false);
}

static void protocol_close(gw_conn_t *c, int code, const char *reason)
{
    gw_m_client_error(c->w, c->ws->api, c->ws->stage, NULL);
    gw_ws_close(c, code, reason);
}

/* A complete message: hand text (or allowed binary) to routing. */
static void deliver(gw_conn_t *c, uint8_t opcode, const uint8_t *p, size_t n)
{
    const route_limits_t *lim = c->w->srv->limits;
    if (n > lim->max_message_bytes) {
        protocol_close(c, WS_CLOSE_TOO_BIG, "Message too big");
        return;
    }
    if (opcode == WS_OP_TEXT && !ws_utf8_valid(p, n)) {
        protocol_close(c, WS_CLOSE_INVALID_DATA, "Invalid UTF-8");
        return;
    }
    gw_ctr_add(&c->w->stats.messages_in, 1);
    gw_ws_touch(c);
    gw_message(c, (const char *)p, n);
}

static void on_close_frame(gw_conn_t *c, const uint8_t *p, size_t n)
{
    gw_ws_t *ws = c->ws;
    int code = WS_CLOSE_NO_STATUS;
    const char *reason = "";
    size_t rlen = 0;
    if (n == 1) {
        protocol_close(c, WS_CLOSE_PROTOCOL, "Invalid close frame");
        return;
    }
    if (n >= 2) {
        code = p[0] << 8 | p[1];
        reason = (const char *)p + 2;
        rlen = n - 2;
        if (!ws_close_code_valid(code)) {
            protocol_close(c, WS_CLOSE_PROTOCOL, "Invalid close code");
            return;
        }
        if (!ws_utf8_valid((const uint8_t *)reason, rlen)) {
            protocol_close(c, WS_CLOSE_INVALID_DATA, "Invalid close reason");
            return;
        }
    }
    ws->peer_closed = true;
    if (!ws->close_code && !ws->server_close_code) {
        ws->close_code = code;
        free(ws->close_reason);
        ws->close_reason = code == WS_CLOSE_NO_STATUS
                               ? pt_xstrdup("Client-side close frame status not set")
                               : pt_xstrndup(reason, rlen);
    }
    if (!ws->close_sent) {
        /* Echo the peer's code (RFC 6455 5.5.1), then end the TCP connection. */
        send_close(c, code == WS_CLOSE_NO_STATUS ? 0 : code, NULL);
    } else {
        /* Our close was answered: done. */
        c->want_close = true;
        if (!c->out_head) {
            gw_conn_close(c);
            return;
        }
    }
    /* After the peer's close we send nothing more and close once our frame is out. */
    c->state = GW_CS_CLOSING;
    gw_conn_set_events(c);
}

size_t gw_ws_process(gw_conn_t *c, uint8_t *data, size_t len)
{
    gw_ws_t *ws = c->ws;
    const route_limits_t *lim = c->w->srv->limits;
    size_t off = 0;
    while (off < len && c->fd >= 0) {
        if (ws->peer_closed)
            return len; /* nothing may follow a close frame */
        if (c->state != GW_CS_WS && c->state != GW_CS_CLOSING)
            return off;
        ws_frame_t f;
        int rc = ws_parse_header(data + off, len - off, &f);
        if (rc == PT_EAGAIN)
            return off;
        if (rc != PT_OK || !f.masked) {
            protocol_close(c, WS_CLOSE_PROTOCOL, "Protocol error");
            return len;
        }
        if (f.opcode < WS_OP_CLOSE && f.payload_len > lim->max_frame_bytes) {
            protocol_close(c, WS_CLOSE_TOO_BIG, "Frame too big");
            return len;
        }
        if (len - off < f.header_len + f.payload_len)
            return off; /* wait for the rest of the frame (bounded by max_frame_bytes) */
        uint8_t *p = data + off + f.header_len;
        size_t n = (size_t)f.payload_len;
        ws_unmask(p, n, f.mask, 0);
        off += f.header_len + n;
        if (c->state == GW_CS_CLOSING && f.opcode != WS_OP_CLOSE)
            continue; /* after a close, only the peer's close matters */
        switch (f.opcode) {
        case WS_OP_TEXT:
        case WS_OP_BINARY:
            if (ws->frag_opcode) {
                protocol_close(c, WS_CLOSE_PROTOCOL, "Expected continuation frame");
                return len;
            }
            if (f.opcode == WS_OP_BINARY && !lim->allow_binary) {
                /* AWS closes on binary frames with 1003 (spec 4.1). */
                protocol_close(c, WS_CLOSE_UNSUPPORTED, "Binary frames are not supported");
                return len;
            }
            if (f.fin) {
                deliver(c, f.opcode, p, n);
            } else {
                ws->frag_opcode = f.opcode;
                buf_reset(&ws->msg);
                memset(&ws->utf8, 0, sizeof ws->utf8);
                buf_append(&ws->msg, p, n);
                if (f.opcode == WS_OP_TEXT && !ws_utf8_feed(&ws->utf8, p, n)) {
                    protocol_close(c, WS_CLOSE_INVALID_DATA, "Invalid UTF-8");
                    return len;
                }
            }
            break;
        case WS_OP_CONT:
            if (!ws->frag_opcode) {
                protocol_close(c, WS_CLOSE_PROTOCOL, "Unexpected continuation frame");
                return len;
            }
            if (ws->msg.len + n > lim->max_message_bytes) {
                protocol_close(c, WS_CLOSE_TOO_BIG, "Message too big");
                return len;
            }
            buf_append(&ws->msg, p, n);
            if (ws->frag_opcode == WS_OP_TEXT && !ws_utf8_feed(&ws->utf8, p, n)) {
                protocol_close(c, WS_CLOSE_INVALID_DATA, "Invalid UTF-8");
                return len;
            }
            if (f.fin) {
                uint8_t op = ws->frag_opcode;
                ws->frag_opcode = 0;
                if (op == WS_OP_TEXT && !ws_utf8_complete(&ws->utf8)) {
                    protocol_close(c, WS_CLOSE_INVALID_DATA, "Invalid UTF-8");
                    return len;
                }
                /* deliver() re-validates UTF-8 in one pass; cheap next to routing. */
                buf_t m = ws->msg;
                ws->msg = (buf_t)BUF_INIT;
                deliver(c, op, (const uint8_t *)m.p, m.len);
                buf_free(&m);
            }
            break;
        case WS_OP_PING:
            /* Pings count as activity (spec 15.4: lenient default). */
            send_control(c, WS_OP_PONG, p, n);
            gw_ws_touch(c);
            break;
        case WS_OP_PONG:
            break;
        case WS_OP_CLOSE:
            on_close_frame(c, p, n);
            if (c->fd < 0)
                return len;
            break;
        }
    }
    return off;
}

void gw_ws_established(gw_conn_t *c)
{
    gw_worker_t *w = c->w;
    int64_t now = time_mono_ms();
    c->state = GW_CS_WS;
    c->read_paused = false;
    gw_tq_push(&w->tq_idle, &c->t_main, now);
    gw_tq_push(&w->tq_age, &c->t_age, now);
    c->ws->last_active_ms = c->ws->connected_at_ms;
    c->ws->last_touch_ms = c->ws->connected_at_ms;
    w->stats.ws_open++;
    w->stats.connects++;
    gw_m_open(w, c->ws, true);
    atomic_fetch_add(&w->srv->ws_total, 1);
}

void gw_ws_on_closed(gw_conn_t *c)
{
    gw_worker_t *w = c->w;
    gw_ws_t *ws = c->ws;
    ws->disconnect_fired = true;
    gw_table_del(&w->table, c);
    store_batch_del(w->batch, ws->id);
    w->stats.ws_open--;
    gw_m_open(w, ws, false);
    atomic_fetch_sub(&w->srv->ws_total, 1);
    gw_disconnect(w, ws);
}
