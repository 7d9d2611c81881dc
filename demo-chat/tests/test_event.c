/* test_event.c: Lambda proxy events in, proxy results out; connection ids, rooms, nicknames. */
#include "chat_test.h"

static void connect_event_with_query(void **state)
{
    (void)state;
    chat_event_t ev;
    make_event(&ev, "CONNECT", "$connect", CID_A,
               json_pack("{s:{s:s, s:s}, s:{s:[s], s:[s]}}", "queryStringParameters", "room",
                         "Lobby", "name", "alice", "multiValueQueryStringParameters", "room",
                         "Lobby", "name", "alice"));
    assert_int_equal(ev.kind, CHAT_EV_CONNECT);
    assert_string_equal(ev.route_key, "$connect");
    assert_string_equal(ev.cid, CID_A);
    assert_string_equal(ev.stage, "dev");
    assert_string_equal(ev.source_ip, "127.0.0.1");
    assert_int_equal(ev.connected_at_ms, 1707502303419);
    assert_int_equal(ev.request_time_ms, 1707502303420);
    assert_string_equal(ev.q_room, "Lobby");
    assert_string_equal(ev.q_name, "alice");
    assert_null(ev.body);
    chat_event_dispose(&ev);
}

static void connect_event_without_query(void **state)
{
    (void)state;
    chat_event_t ev;
    /* AWS (and Portico) leave queryStringParameters out when there is no query string. */
    make_event(&ev, "CONNECT", "$connect", CID_A, NULL);
    assert_null(ev.q_room);
    assert_null(ev.q_name);
    chat_event_dispose(&ev);
}

static void message_event(void **state)
{
    (void)state;
    chat_event_t ev;
    make_message(&ev, "sendmessage", CID_B,
                 "{\"action\":\"sendmessage\",\"text\":\"hi \\\"there\\\"\",\"t\":12.5,"
                 "\"n\":7,\"typing\":false}");
    assert_int_equal(ev.kind, CHAT_EV_MESSAGE);
    assert_non_null(ev.body_json);
    assert_string_equal(ev.action, "sendmessage");
    assert_string_equal(chat_event_str(&ev, "text"), "hi \"there\"");
    assert_null(chat_event_str(&ev, "t"));
    assert_null(chat_event_str(&ev, "missing"));
    assert_false(chat_event_bool(&ev, "typing", true));
    assert_true(chat_event_bool(&ev, "missing", true));
    char num[32];
    assert_true(chat_event_num(&ev, "t", num, sizeof num));
    assert_string_equal(num, "12.5");
    assert_true(chat_event_num(&ev, "n", num, sizeof num));
    assert_string_equal(num, "7");
    assert_false(chat_event_num(&ev, "text", num, sizeof num));
    chat_event_dispose(&ev);
}

static void message_event_body_not_json(void **state)
{
    (void)state;
    const char *bodies[] = {"hello", "[1,2]", "\"str\"", "{\"action\":5}", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        chat_event_t ev;
        make_message(&ev, "$default", CID_A, bodies[i]);
        assert_int_equal(ev.body_len, strlen(bodies[i]));
        assert_memory_equal(ev.body, bodies[i], ev.body_len);
        assert_null(ev.action);
        /* Only {"action":5} is an object; its action is not a string. */
        if (i == 3)
            assert_non_null(ev.body_json);
        else
            assert_null(ev.body_json);
        chat_event_dispose(&ev);
    }
}

static void disconnect_event(void **state)
{
    (void)state;
    chat_event_t ev;
    make_event(&ev, "DISCONNECT", "$disconnect", CID_C, NULL);
    assert_int_equal(ev.kind, CHAT_EV_DISCONNECT);
    assert_int_equal(ev.disconnect_code, 0);
    assert_string_equal(ev.disconnect_reason, "");
    chat_event_dispose(&ev);

    /* AWS's own capture (aws-compat-spec 6.3), with its headers and code. */
    const char *aws =
        "{\"headers\":{\"Host\":\"abcd1234.execute-api.us-east-1.amazonaws.com\",\"x-api-key\":"
        "\"\"},\"multiValueHeaders\":{\"Host\":[\"abcd1234.execute-api.us-east-1.amazonaws.com\""
        "]},\"requestContext\":{\"routeKey\":\"$disconnect\",\"disconnectStatusCode\":1005,"
        "\"eventType\":\"DISCONNECT\",\"extendedRequestId\":\"ABCD1234=\",\"requestTime\":"
        "\"09/Feb/2024:18:23:28 +0000\",\"messageDirection\":\"IN\",\"disconnectReason\":"
        "\"Client-side close frame status not set\",\"stage\":\"prod\",\"connectedAt\":"
        "1707503007396,\"requestTimeEpoch\":1707503008941,\"identity\":{\"sourceIp\":"
        "\"192.0.2.1\"},\"requestId\":\"ABCD1234=\",\"domainName\":\"abcd1234.execute-api.us-"
        "east-1.amazonaws.com\",\"connectionId\":\"AAAA1234AAAA123=\",\"apiId\":\"abcd1234\"},"
        "\"isBase64Encoded\":false}";
    assert_int_equal(chat_event_parse(aws, strlen(aws), &ev), PT_OK);
    assert_int_equal(ev.disconnect_code, 1005);
    assert_string_equal(ev.disconnect_reason, "Client-side close frame status not set");
    assert_string_equal(ev.stage, "prod");
    assert_string_equal(ev.source_ip, "192.0.2.1");
    chat_event_dispose(&ev);
}

static void bad_events(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"requestContext\":[]}",
        "{\"requestContext\":{\"eventType\":\"MESSAGE\",\"routeKey\":\"x\"}}",
        "{\"requestContext\":{\"eventType\":\"MESSAGE\",\"routeKey\":\"x\","
        "\"connectionId\":\"short=\"},\"body\":\"\"}",
        "{\"requestContext\":{\"eventType\":\"MESSAGE\",\"routeKey\":\"x\","
        "\"connectionId\":\"AAAAAAAAAAAAAA/=\"},\"body\":\"\"}",
        "{\"requestContext\":{\"eventType\":\"OTHER\",\"routeKey\":\"x\","
        "\"connectionId\":\"AAAAAAAAAAAAAAA=\"}}",
        /* A MESSAGE without a string body is not one. */
        "{\"requestContext\":{\"eventType\":\"MESSAGE\",\"routeKey\":\"x\","
        "\"connectionId\":\"AAAAAAAAAAAAAAA=\"},\"body\":{}}",
        /* Duplicate keys would let a forged copy hide behind the real one. */
        "{\"requestContext\":{\"eventType\":\"CONNECT\",\"routeKey\":\"$connect\","
        "\"connectionId\":\"AAAAAAAAAAAAAAA=\",\"connectionId\":\"BBBBBBBBBBBBBBB=\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        chat_event_t ev;
        assert_int_equal(chat_event_parse(bad[i], strlen(bad[i]), &ev), PT_EPARSE);
        assert_null(ev._root);
    }
}

static void cid_shapes(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } t[] = {
        {"L0SM9cOFvHcCIhw=", true},   {"AAAAAAAAAAAAAAA=", true},  {"a-_zZ09aaaaaaaa=", true},
        {"L0SM9cOFvHcCIhw", false},   {"L0SM9cOFvHcCIhwA", false}, {"L0SM9cOFvHcCIh==", false},
        {"L0SM9cOFv/cCIhw=", false},  {"L0SM9cOFv+cCIhw=", false}, {"", false},
        {"L0SM9cOFvHcCIhw==", false},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        assert_int_equal(chat_cid_valid(t[i].s, strlen(t[i].s)), t[i].ok);
}

static void room_names(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } t[] = {
        {"lobby", "lobby"},
        {"Lobby", "lobby"},
        {"team-42_x", "team-42_x"},
        {"abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345"},
        {"abcdefghijklmnopqrstuvwxyz0123456", NULL},
        {"", NULL},
        {"with space", NULL},
        {"caf\xc3\xa9", NULL},
        {"../etc", NULL},
        {"a/b", NULL},
    };
    char out[CHAT_ROOM_MAX + 1];
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        int rc = chat_room_name(t[i].in, out);
        if (t[i].out) {
            assert_int_equal(rc, PT_OK);
            assert_string_equal(out, t[i].out);
        } else {
            assert_int_equal(rc, PT_EINVAL);
        }
    }
    assert_int_equal(chat_room_name(NULL, out), PT_EINVAL);
}

static void nicknames(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } t[] = {
        {"alice", "alice"},
        {"  bob  ", "bob"},
        {"Zo\xc3\xab \xf0\x9f\x98\x80", "Zo\xc3\xab \xf0\x9f\x98\x80"},
        {"12345678901234567890123456789012", "12345678901234567890123456789012"},
        {"123456789012345678901234567890123", NULL},
        {"   ", NULL},
        {"", NULL},
        {"tab\there", NULL},
        {"nl\n", NULL},
        {"del\x7f", NULL},
        {"c1\xc2\x85", NULL},      /* U+0085, a C1 control */
        {"bad\xc3", NULL},         /* truncated sequence */
        {"bad\xed\xa0\x80", NULL}, /* a surrogate */
        {"bad\xc0\xaf", NULL},     /* overlong */
    };
    char out[CHAT_NAME_MAX + 1];
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        int rc = chat_nick(t[i].in, out);
        if (t[i].out) {
            assert_int_equal(rc, PT_OK);
            assert_string_equal(out, t[i].out);
        } else {
            assert_int_equal(rc, PT_EINVAL);
        }
    }
}

static void proxy_results(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    chat_result_json(&b, 200, NULL, 0);
    assert_string_equal(b.p, "{\"statusCode\":200}");
    buf_reset(&b);
    const char body[] = "{\"type\":\"x\",\"t\":\"a\\\"b\nc\"}";
    chat_result_json(&b, 400, body, sizeof body - 1);
    json_t *j = json_loads(b.p, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "statusCode")), 400);
    assert_string_equal(jstr(j, "body"), body);
    json_decref(j);
    buf_free(&b);
}

static void payload_refs(void **state)
{
    (void)state;
    chat_payload_t *p = chat_payload_new("abc", 3);
    assert_int_equal(p->refs, 1);
    assert_string_equal(p->data, "abc");
    assert_ptr_equal(chat_payload_ref(p), p);
    chat_payload_unref(p);
    assert_int_equal(p->refs, 1);
    chat_payload_unref(p);
    chat_payload_unref(NULL);
}

static void string_map(void **state)
{
    (void)state;
    chat_map_t m;
    chat_map_init(&m);
    enum { N = 1000 };
    static char keys[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        assert_int_equal(chat_map_put(&m, keys[i], keys[i]), PT_OK);
    }
    assert_int_equal(chat_map_put(&m, "k5", NULL), PT_EEXISTS);
    assert_int_equal(m.n, N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(chat_map_get(&m, keys[i]), keys[i]);
    assert_null(chat_map_get(&m, "nope"));
    for (int i = 0; i < N; i += 2)
        assert_ptr_equal(chat_map_del(&m, keys[i]), keys[i]);
    assert_null(chat_map_del(&m, "k0"));
    size_t pos = 0, seen = 0;
    chat_map_node_t *node = NULL;
    char *v;
    while ((v = chat_map_next(&m, &pos, &node))) {
        assert_int_equal(atoi(v + 1) % 2, 1);
        seen++;
    }
    assert_int_equal(seen, N / 2);
    assert_null(chat_map_next(&m, &pos, &node));
    chat_map_dispose(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_event_with_query),
        cmocka_unit_test(connect_event_without_query),
        cmocka_unit_test(message_event),
        cmocka_unit_test(message_event_body_not_json),
        cmocka_unit_test(disconnect_event),
        cmocka_unit_test(bad_events),
        cmocka_unit_test(cid_shapes),
        cmocka_unit_test(room_names),
        cmocka_unit_test(nicknames),
        cmocka_unit_test(proxy_results),
        cmocka_unit_test(payload_refs),
        cmocka_unit_test(string_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
