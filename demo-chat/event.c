/* event.c: Lambda proxy events in (CONNECT, MESSAGE, DISCONNECT), proxy results out, names. */
#include "demo-chat/chat.h"

#include "common/err.h"
#include "common/mem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t int_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

bool chat_cid_valid(const char *s, size_t n)
{
    if (n != CHAT_CID_LEN || s[CHAT_CID_LEN - 1] != '=')
        return false;
    for (size_t i = 0; i < CHAT_CID_LEN - 1; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

int chat_event_parse(const char *text, size_t len, chat_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root))
        goto fail;
    json_t *rc = json_object_get(root, "requestContext");
    if (!json_is_object(rc))
        goto fail;
    const char *type = str_at(rc, "eventType");
    const char *cid = str_at(rc, "connectionId");
    ev->route_key = str_at(rc, "routeKey");
    if (!type || !cid || !ev->route_key || !chat_cid_valid(cid, strlen(cid)))
        goto fail;
    if (strcmp(type, "CONNECT") == 0)
        ev->kind = CHAT_EV_CONNECT;
    else if (strcmp(type, "MESSAGE") == 0)
        ev->kind = CHAT_EV_MESSAGE;
    else if (strcmp(type, "DISCONNECT") == 0)
        ev->kind = CHAT_EV_DISCONNECT;
    else
        goto fail;
    memcpy(ev->cid, cid, CHAT_CID_LEN + 1);
    ev->stage = str_at(rc, "stage");
    if (!ev->stage)
        ev->stage = "";
    json_t *identity = json_object_get(rc, "identity");
    ev->source_ip = json_is_object(identity) ? str_at(identity, "sourceIp") : NULL;
    if (!ev->source_ip)
        ev->source_ip = "";
    ev->request_time_ms = int_at(rc, "requestTimeEpoch");
    ev->connected_at_ms = int_at(rc, "connectedAt");

    if (ev->kind == CHAT_EV_CONNECT) {
        /* Absent when the client sent no query string, as in AWS. */
        json_t *q = json_object_get(root, "queryStringParameters");
        if (json_is_object(q)) {
            ev->q_room = str_at(q, "room");
            ev->q_name = str_at(q, "name");
        }
    } else if (ev->kind == CHAT_EV_MESSAGE) {
        json_t *body = json_object_get(root, "body");
        if (!json_is_string(body))
            goto fail;
        ev->body = json_string_value(body);
        ev->body_len = json_string_length(body);
        /* The body is the client's frame, verbatim; it need not be JSON at all. */
        json_t *parsed = json_loadb(ev->body, ev->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (json_is_object(parsed)) {
            ev->body_json = parsed;
            ev->action = str_at(parsed, "action");
        } else {
            json_decref(parsed);
        }
    } else {
        ev->disconnect_code = (int)int_at(rc, "disconnectStatusCode");
        ev->disconnect_reason = str_at(rc, "disconnectReason");
        if (!ev->disconnect_reason)
            ev->disconnect_reason = "";
    }
    ev->_root = root;
    return PT_OK;

fail:
    json_decref(root);
    memset(ev, 0, sizeof *ev);
    return PT_EPARSE;
}

void chat_event_dispose(chat_event_t *ev)
{
    json_decref(ev->body_json);
    json_decref(ev->_root);
    memset(ev, 0, sizeof *ev);
}

const char *chat_event_str(const chat_event_t *ev, const char *key)
{
    return ev->body_json ? str_at(ev->body_json, key) : NULL;
}

bool chat_event_bool(const chat_event_t *ev, const char *key, bool def)
{
    json_t *v = ev->body_json ? json_object_get(ev->body_json, key) : NULL;
    return json_is_boolean(v) ? json_is_true(v) : def;
}

bool chat_event_num(const chat_event_t *ev, const char *key, char *out, size_t cap)
{
    json_t *v = ev->body_json ? json_object_get(ev->body_json, key) : NULL;
    if (!json_is_number(v))
        return false;
    int n = json_is_integer(v) ? snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v))
                               : snprintf(out, cap, "%.17g", json_real_value(v));
    return n > 0 && (size_t)n < cap;
}

void chat_result_json(buf_t *out, int status, const char *body, size_t body_len)
{
    buf_printf(out, "{\"statusCode\":%d", status);
    if (body) {
        buf_puts(out, ",\"body\":");
        buf_json_str(out, body, body_len);
    }
    buf_putc(out, '}');
}

int chat_room_name(const char *in, char out[CHAT_ROOM_MAX + 1])
{
    size_t n = in ? strlen(in) : 0;
    if (n == 0 || n > CHAT_ROOM_MAX)
        return PT_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return PT_EINVAL;
        out[i] = c;
    }
    out[n] = '\0';
    return PT_OK;
}

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 when it is not valid UTF-8. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int chat_nick(const char *in, char out[CHAT_NAME_MAX + 1])
{
    if (!in)
        return PT_EINVAL;
    size_t n = strlen(in);
    while (n && in[n - 1] == ' ')
        n--;
    while (n && *in == ' ') {
        in++;
        n--;
    }
    if (n == 0 || n > CHAT_NAME_MAX)
        return PT_EINVAL;
    const unsigned char *s = (const unsigned char *)in;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return PT_EINVAL;
        size_t k = utf8_seq(s + i, n - i);
        if (k == 0)
            return PT_EINVAL;
        /* C1 controls (U+0080..U+009F) are control characters too. */
        if (k == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0)
            return PT_EINVAL;
        i += k;
    }
    memcpy(out, in, n);
    out[n] = '\0';
    return PT_OK;
}

chat_payload_t *chat_payload_new(const char *data, size_t len)
{
    chat_payload_t *p = pt_xmalloc(sizeof *p + len + 1);
    p->refs = 1;
    p->len = len;
    memcpy(p->data, data, len);
    p->data[len] = '\0';
    return p;
}

chat_payload_t *chat_payload_ref(chat_payload_t *p)
{
    p->refs++;
    return p;
}

void chat_payload_unref(chat_payload_t *p)
{
    if (p && --p->refs == 0)
        free(p);
}
