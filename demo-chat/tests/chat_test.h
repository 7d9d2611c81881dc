/* chat_test.h: helpers shared by demo-chat's unit tests: events as Portico sends them, pushes. */
#ifndef PORTICO_DEMO_CHAT_TEST_H
#define PORTICO_DEMO_CHAT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "demo-chat/chat.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Connection ids in the shape Portico makes them. */
#define CID_A "AAAAAAAAAAAAAAA="
#define CID_B "BBBBBBBBBBBBBBB="
#define CID_C "CCCCCCCCCCCCCCC="
#define CID_D "DDDDDDDDDDDDDDD="

/* An event as Portico POSTs it, serialised, then parsed by chat_event_parse. `extra` is a
 * JSON object merged at the top level (queryStringParameters, body, ...), or NULL. */
static inline void make_event(chat_event_t *ev, const char *type, const char *route,
                              const char *cid, json_t *extra)
{
    json_t *rc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:{s:s, s:s}, s:s, s:s, "
                           "s:s, s:s}",
                           "routeKey", route, "eventType", type, "extendedRequestId",
                           "ABCD1234567890A=", "requestTime", "09/Feb/2024:18:11:43 +0000",
                           "messageDirection", "IN", "stage", "dev", "connectedAt",
                           (json_int_t)1707502303419, "requestTimeEpoch", (json_int_t)1707502303420,
                           "identity", "sourceIp", "127.0.0.1", "userAgent", "test/1", "requestId",
                           "ABCD1234567890A=", "domainName", "127.0.0.1:8080", "connectionId", cid,
                           "apiId", "demochat01");
    assert_non_null(rc);
    json_t *root = json_object();
    json_object_set_new(root, "requestContext", rc);
    if (extra)
        json_object_update(root, extra);
    json_object_set_new(root, "isBase64Encoded", json_false());
    char *text = json_dumps(root, JSON_COMPACT);
    assert_int_equal(chat_event_parse(text, strlen(text), ev), PT_OK);
    free(text);
    json_decref(root);
    json_decref(extra);
}

/* A MESSAGE event whose body is the client's frame `frame`. */
static inline void make_message(chat_event_t *ev, const char *route, const char *cid,
                                const char *frame)
{
    make_event(ev, "MESSAGE", route, cid, json_pack("{s:s}", "body", frame));
}

/* One push taken from the state: to whom and what. */
typedef struct sent {
    char cid[CHAT_CID_LEN + 1];
    json_t *msg;
} sent_t;

/* Takes every queued push (completing each with `outcome`) into out[], one entry per
 * message (a batched push, a JSON array, gives one per element); returns the count. */
static inline size_t drain(chat_state_t *st, sent_t *out, size_t cap, chat_push_outcome_t outcome)
{
    size_t n = 0;
    char cid[CHAT_CID_LEN + 1];
    chat_payload_t *p;
    while (chat_push_next(st, cid, &p)) {
        json_t *j = json_loads(p->data, 0, NULL);
        assert_non_null(j);
        size_t k = json_is_array(j) ? json_array_size(j) : 1;
        if (json_is_array(j))
            assert_true(k >= 2); /* a single message is never wrapped */
        for (size_t i = 0; i < k; i++) {
            assert_true(n < cap);
            memcpy(out[n].cid, cid, sizeof cid);
            out[n].msg = json_is_array(j) ? json_incref(json_array_get(j, i)) : json_incref(j);
            assert_true(json_is_object(out[n].msg));
            n++;
        }
        json_decref(j);
        chat_payload_unref(p);
        chat_push_done(st, cid, outcome, 1000);
    }
    return n;
}

static inline void sent_free(sent_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(s[i].msg);
}

static inline const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* Runs one event through chat_handle; returns the reply body parsed (NULL when empty). */
static inline json_t *handle(chat_state_t *st, chat_event_t *ev, int *status)
{
    chat_reply_t r = {0, BUF_INIT};
    assert_int_equal(chat_handle(st, ev, 1000, &r), PT_OK);
    if (status)
        *status = r.status;
    /* Two-way answers are JSON; a refused $connect's body is text for the HTTP response. */
    json_t *body = r.body.len && r.status == 200 ? json_loads(r.body.p, 0, NULL) : NULL;
    if (r.body.len && r.status == 200)
        assert_non_null(body);
    if (r.status != 200)
        assert_true(r.body.len > 0);
    buf_free(&r.body);
    chat_event_dispose(ev);
    return body;
}

#endif
