/* test_chat.c: route handlers, room membership, presence, and the push queues' scheduling. */
#include "chat_test.h"

static int setup(void **state)
{
    chat_state_t *st;
    if (chat_state_create(NULL, &st) != PT_OK)
        return -1;
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    chat_state_destroy(*state);
    return 0;
}

/* $connect then join, as the page does; returns the welcome. */
static json_t *join(chat_state_t *st, const char *cid, const char *room, const char *name)
{
    chat_event_t ev;
    make_event(&ev, "CONNECT", "$connect", cid, NULL);
    int status;
    assert_null(handle(st, &ev, &status));
    assert_int_equal(status, 200);
    char frame[256];
    snprintf(frame, sizeof frame, "{\"action\":\"join\",\"room\":\"%s\",\"name\":\"%s\"}", room,
             name);
    make_message(&ev, "join", cid, frame);
    json_t *w = handle(st, &ev, &status);
    assert_int_equal(status, 200);
    assert_non_null(w);
    return w;
}

static void send_text(chat_state_t *st, const char *cid, const char *text)
{
    char frame[2200];
    snprintf(frame, sizeof frame, "{\"action\":\"sendmessage\",\"text\":\"%s\"}", text);
    chat_event_t ev;
    make_message(&ev, "sendmessage", cid, frame);
    int status;
    assert_null(handle(st, &ev, &status)); /* one-way: no body */
    assert_int_equal(status, 200);
}

static void names_of(json_t *members, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(members); i++) {
        if (i)
            strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, jstr(json_array_get(members, i), "name"), cap - strlen(out) - 1);
    }
}

static void welcome_has_members_history_and_rooms(void **state)
{
    chat_state_t *st = *state;
    json_t *w = join(st, CID_A, "Lobby", "alice");
    assert_string_equal(jstr(w, "type"), "welcome");
    assert_string_equal(jstr(w, "connectionId"), CID_A);
    assert_string_equal(jstr(w, "room"), "lobby"); /* normalised */
    assert_string_equal(jstr(w, "name"), "alice");
    char names[256];
    names_of(json_object_get(w, "members"), names, sizeof names);
    assert_string_equal(names, "alice");
    assert_int_equal(json_array_size(json_object_get(w, "history")), 0);
    json_t *rooms = json_object_get(w, "rooms");
    assert_int_equal(json_array_size(rooms), 1);
    assert_string_equal(jstr(json_array_get(rooms, 0), "name"), "lobby");
    json_decref(w);
    sent_t out[8];
    assert_int_equal(drain(st, out, 8, CHAT_PUSH_OK), 0); /* nobody else to tell */
}

static void join_leave_and_messages_stay_in_their_room(void **state)
{
    chat_state_t *st = *state;
    sent_t out[32];
    json_decref(join(st, CID_A, "lobby", "alice"));
    json_decref(join(st, CID_C, "other", "carol"));
    assert_int_equal(drain(st, out, 32, CHAT_PUSH_OK), 0);

    json_t *w = join(st, CID_B, "lobby", "bob");
    char names[256];
    names_of(json_object_get(w, "members"), names, sizeof names);
    assert_string_equal(names, "alice,bob");
    json_decref(w);
    size_t n = drain(st, out, 32, CHAT_PUSH_OK);
    assert_int_equal(n, 1); /* alice hears that bob joined; carol hears nothing */
    assert_string_equal(out[0].cid, CID_A);
    assert_string_equal(jstr(out[0].msg, "type"), "joined");
    assert_string_equal(jstr(out[0].msg, "name"), "bob");
    assert_string_equal(jstr(out[0].msg, "cid"), CID_B);
    names_of(json_object_get(out[0].msg, "members"), names, sizeof names);
    assert_string_equal(names, "alice,bob");
    sent_free(out, n);

    send_text(st, CID_B, "hi \\\"all\\\"");
    n = drain(st, out, 32, CHAT_PUSH_OK);
    assert_int_equal(n, 2); /* both lobby members, the sender too, as AWS's sample */
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(out[i].cid, CID_C);
        assert_string_equal(jstr(out[i].msg, "type"), "message");
        assert_string_equal(jstr(out[i].msg, "text"), "hi \"all\"");
        assert_string_equal(jstr(out[i].msg, "name"), "bob");
        assert_string_equal(jstr(out[i].msg, "room"), "lobby");
        assert_int_equal(json_integer_value(json_object_get(out[i].msg, "id")), 0);
    }
    sent_free(out, n);

    chat_event_t ev;
    make_event(&ev, "DISCONNECT", "$disconnect", CID_B, NULL);
    assert_null(handle(st, &ev, NULL));
    n = drain(st, out, 32, CHAT_PUSH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].cid, CID_A);
    assert_string_equal(jstr(out[0].msg, "type"), "left");
    assert_string_equal(jstr(out[0].msg, "reason"), "disconnect");
    names_of(json_object_get(out[0].msg, "members"), names, sizeof names);
    assert_string_equal(names, "alice");
    sent_free(out, n);

    chat_stats_t s;
    chat_state_stats(st, &s);
    assert_int_equal(s.members, 2);
    assert_int_equal(s.messages, 1);
}

static void typing_goes_to_the_others(void **state)
{
    chat_state_t *st = *state;
    sent_t out[8];
    json_decref(join(st, CID_A, "lobby", "alice"));
    json_decref(join(st, CID_B, "lobby", "bob"));
    sent_free(out, drain(st, out, 8, CHAT_PUSH_OK));
    chat_event_t ev;
    make_message(&ev, "typing", CID_A, "{\"action\":\"typing\",\"typing\":false}");
    assert_null(handle(st, &ev, NULL));
    size_t n = drain(st, out, 8, CHAT_PUSH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].cid, CID_B);
    assert_string_equal(jstr(out[0].msg, "type"), "typing");
    assert_true(json_is_false(json_object_get(out[0].msg, "typing")));
    sent_free(out, n);
}

static void rename_and_move(void **state)
{
    chat_state_t *st = *state;
    sent_t out[8];
    json_decref(join(st, CID_A, "lobby", "alice"));
    json_decref(join(st, CID_B, "lobby", "bob"));
    json_decref(join(st, CID_C, "dev", "carol"));
    sent_free(out, drain(st, out, 8, CHAT_PUSH_OK));

    chat_event_t ev;
    make_message(&ev, "join", CID_B, "{\"action\":\"join\",\"name\":\"rob\"}");
    json_t *w = handle(st, &ev, NULL);
    assert_string_equal(jstr(w, "room"), "lobby"); /* no room given: stays */
    assert_string_equal(jstr(w, "name"), "rob");
    json_decref(w);
    size_t n = drain(st, out, 8, CHAT_PUSH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jstr(out[0].msg, "type"), "renamed");
    assert_string_equal(jstr(out[0].msg, "old"), "bob");
    assert_string_equal(jstr(out[0].msg, "name"), "rob");
    sent_free(out, n);

    make_message(&ev, "join", CID_B, "{\"action\":\"join\",\"room\":\"dev\"}");
    w = handle(st, &ev, NULL);
    char names[64];
    names_of(json_object_get(w, "members"), names, sizeof names);
    assert_string_equal(names, "carol,rob");
    json_decref(w);
    n = drain(st, out, 8, CHAT_PUSH_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(out[i].cid, CID_A) == 0) {
            assert_string_equal(jstr(out[i].msg, "type"), "left");
            assert_string_equal(jstr(out[i].msg, "reason"), "moved");
        } else {
            assert_string_equal(out[i].cid, CID_C);
            assert_string_equal(jstr(out[i].msg, "type"), "joined");
        }
    }
    sent_free(out, n);

    /* Joining the room one is in, under the same name, tells nobody. */
    make_message(&ev, "join", CID_B, "{\"action\":\"join\",\"room\":\"dev\",\"name\":\"rob\"}");
    json_decref(handle(st, &ev, NULL));
    assert_int_equal(drain(st, out, 8, CHAT_PUSH_OK), 0);
}

static void history_on_join_is_the_last_fifty(void **state)
{
    chat_state_t *st = *state;
    sent_t out[8];
    json_decref(join(st, CID_A, "lobby", "alice"));
    for (int i = 0; i < 57; i++) {
        char t[16];
        snprintf(t, sizeof t, "n%d", i);
        send_text(st, CID_A, t);
        sent_free(out, drain(st, out, 8, CHAT_PUSH_OK));
    }
    json_t *w = join(st, CID_B, "lobby", "bob");
    json_t *h = json_object_get(w, "history");
    assert_int_equal(json_array_size(h), CHAT_HISTORY);
    for (size_t i = 0; i < CHAT_HISTORY; i++) {
        char want[16];
        snprintf(want, sizeof want, "n%zu", i + 7);
        assert_string_equal(jstr(json_array_get(h, i), "text"), want);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(h, i), "id")), i + 7);
    }
    json_decref(w);
    sent_free(out, drain(st, out, 8, CHAT_PUSH_OK));
}

static void bad_input_gets_errors(void **state)
{
    chat_state_t *st = *state;
    chat_event_t ev;
    int status;
    sent_t out[8];

    /* $connect refuses a malformed room or name in the query string with 400. */
    make_event(&ev, "CONNECT", "$connect", CID_A,
               json_pack("{s:{s:s}}", "queryStringParameters", "room", "no spaces"));
    json_decref(handle(st, &ev, &status));
    assert_int_equal(status, 400);
    make_event(&ev, "CONNECT", "$connect", CID_A,
               json_pack("{s:{s:s}}", "queryStringParameters", "name", "\t"));
    json_decref(handle(st, &ev, &status));
    assert_int_equal(status, 400);

    /* Sending before joining: an error is pushed (sendmessage is one-way). */
    make_event(&ev, "CONNECT", "$connect", CID_A, NULL);
    json_decref(handle(st, &ev, &status));
    send_text(st, CID_A, "too early");
    size_t n = drain(st, out, 8, CHAT_PUSH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jstr(out[0].msg, "type"), "error");
    assert_string_equal(jstr(out[0].msg, "code"), "not_joined");
    sent_free(out, n);

    /* join answers errors in its reply (two-way). */
    const struct {
        const char *frame, *code;
    } t[] = {
        {"{\"action\":\"join\",\"room\":\"a b\"}", "bad_room"},
        {"{\"action\":\"join\",\"name\":\"\"}", "bad_name"},
        {"{\"action\":\"join\",\"name\":\"0123456789012345678901234567890123\"}", "bad_name"},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        make_message(&ev, "join", CID_A, t[i].frame);
        json_t *r = handle(st, &ev, &status);
        assert_int_equal(status, 200);
        assert_string_equal(jstr(r, "type"), "error");
        assert_string_equal(jstr(r, "code"), t[i].code);
        json_decref(r);
    }

    json_decref(join(st, CID_A, "lobby", "alice"));
    send_text(st, CID_A, "");
    char big[CHAT_TEXT_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    send_text(st, CID_A, big);
    n = drain(st, out, 8, CHAT_PUSH_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(jstr(out[i].msg, "code"), "bad_text");
    sent_free(out, n);
    big[CHAT_TEXT_MAX] = '\0'; /* exactly the limit is fine */
    send_text(st, CID_A, big);
    n = drain(st, out, 8, CHAT_PUSH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jstr(out[0].msg, "type"), "message");
    sent_free(out, n);
}

static void default_route_dispatches_on_action(void **state)
{
    chat_state_t *st = *state;
    chat_event_t ev;
    /* A config with only $default still works: the body's action picks the handler. */
    make_message(&ev, "$default", CID_A, "{\"action\":\"join\",\"room\":\"x\",\"name\":\"al\"}");
    json_t *r = handle(st, &ev, NULL);
    assert_string_equal(jstr(r, "type"), "welcome");
    json_decref(r);
    make_message(&ev, "$default", CID_A, "{\"action\":\"rooms\"}");
    r = handle(st, &ev, NULL);
    assert_string_equal(jstr(r, "type"), "rooms");
    json_decref(r);
    make_message(&ev, "$default", CID_A, "{\"action\":\"ping\",\"t\":42}");
    r = handle(st, &ev, NULL);
    assert_string_equal(jstr(r, "type"), "pong");
    assert_int_equal(json_integer_value(json_object_get(r, "t")), 42);
    assert_string_equal(jstr(r, "connectionId"), CID_A);
    json_decref(r);
    make_message(&ev, "$default", CID_A, "{\"action\":\"dance\"}");
    r = handle(st, &ev, NULL);
    assert_string_equal(jstr(r, "code"), "unknown_action");
    json_decref(r);
    make_message(&ev, "$default", CID_A, "plain text");
    r = handle(st, &ev, NULL);
    assert_string_equal(jstr(r, "code"), "not_json");
    json_decref(r);
    /* AWS's sample client sends {"action":"sendmessage","data":"..."}. */
    make_message(&ev, "sendmessage", CID_A, "{\"action\":\"sendmessage\",\"data\":\"aws\"}");
    json_decref(handle(st, &ev, NULL));
    sent_t out[4];
    size_t n = drain(st, out, 4, CHAT_PUSH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(jstr(out[0].msg, "text"), "aws");
    sent_free(out, n);
}

static void rooms_list_is_busiest_first(void **state)
{
    chat_state_t *st = *state;
    sent_t out[16];
    json_decref(join(st, CID_A, "zeta", "a"));
    json_decref(join(st, CID_B, "zeta", "b"));
    json_decref(join(st, CID_C, "alpha", "c"));
    sent_free(out, drain(st, out, 16, CHAT_PUSH_OK));
    buf_t b = BUF_INIT;
    chat_rooms_json(st, &b);
    json_t *j = json_loads(b.p, 0, NULL);
    json_t *rooms = json_object_get(j, "rooms");
    assert_int_equal(json_array_size(rooms), 3);
    assert_string_equal(jstr(json_array_get(rooms, 0), "name"), "zeta");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rooms, 0), "members")), 2);
    assert_string_equal(jstr(json_array_get(rooms, 1), "name"), "alpha");
    assert_string_equal(jstr(json_array_get(rooms, 2), "name"), "lobby"); /* always there */
    json_decref(j);
    buf_free(&b);

    /* An empty room without messages goes away; the lobby stays. */
    chat_event_t ev;
    make_event(&ev, "DISCONNECT", "$disconnect", CID_C, NULL);
    json_decref(handle(st, &ev, NULL));
    chat_stats_t s;
    chat_state_stats(st, &s);
    assert_int_equal(s.rooms, 2);
}

/* ---- pushes ---------------------------------------------------------------------------------- */

static void one_push_in_flight_per_member_in_order(void **state)
{
    chat_state_t *st = *state;
    sent_t out[16];
    json_decref(join(st, CID_A, "lobby", "a"));
    json_decref(join(st, CID_B, "lobby", "b"));
    sent_free(out, drain(st, out, 16, CHAT_PUSH_OK));
    send_text(st, CID_A, "one");

    /* Each member has one push in flight; the next waits for it, keeping the order. */
    char c1[CHAT_CID_LEN + 1], c2[CHAT_CID_LEN + 1], c3[CHAT_CID_LEN + 1];
    chat_payload_t *p1, *p2, *p3;
    assert_true(chat_push_next(st, c1, &p1));
    assert_true(chat_push_next(st, c2, &p2));
    assert_false(chat_push_next(st, c3, &p3));
    assert_string_not_equal(c1, c2);
    assert_non_null(strstr(p1->data, "\"one\""));
    assert_non_null(strstr(p2->data, "\"one\""));
    chat_stats_t s;
    chat_state_stats(st, &s);
    assert_int_equal(s.inflight, 2);
    send_text(st, CID_A, "two");
    send_text(st, CID_A, "three");
    assert_false(chat_push_next(st, c3, &p3));

    /* The first member is slow: the second gets "two" and "three" meanwhile, together, as
     * an array (they were both waiting), in order. */
    chat_payload_unref(p2);
    chat_push_done(st, c2, CHAT_PUSH_OK, 1000);
    assert_true(chat_push_next(st, c3, &p3));
    assert_string_equal(c3, c2);
    json_t *batch = json_loads(p3->data, 0, NULL);
    assert_int_equal(json_array_size(batch), 2);
    assert_string_equal(jstr(json_array_get(batch, 0), "text"), "two");
    assert_string_equal(jstr(json_array_get(batch, 1), "text"), "three");
    json_decref(batch);
    chat_payload_unref(p3);
    chat_push_done(st, c3, CHAT_PUSH_OK, 1000);
    assert_false(chat_push_next(st, c3, &p3));

    /* The slow one finishes; its queue resumes in order. */
    chat_payload_unref(p1);
    chat_push_done(st, c1, CHAT_PUSH_FAILED, 1000);
    size_t n = drain(st, out, 16, CHAT_PUSH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].cid, c1);
    assert_string_equal(jstr(out[0].msg, "text"), "two");
    assert_string_equal(jstr(out[1].msg, "text"), "three");
    sent_free(out, n);
    chat_state_stats(st, &s);
    assert_int_equal(s.inflight, 0);
    assert_int_equal(s.pushes_failed, 1);
    assert_int_equal(s.pushes_batched, 2); /* [two, three] to each member */
}

static void batches_stay_within_their_bounds(void **state)
{
    chat_state_t *st = *state;
    sent_t out[4];
    json_decref(join(st, CID_A, "lobby", "a"));
    sent_free(out, drain(st, out, 4, CHAT_PUSH_OK));
    /* 100 short messages wait: pushes carry at most CHAT_BATCH_MAX of them. */
    for (int i = 0; i < 100; i++) {
        char t[16];
        snprintf(t, sizeof t, "s%d", i);
        send_text(st, CID_A, t);
    }
    char cid[CHAT_CID_LEN + 1];
    chat_payload_t *p;
    int next = 0;
    size_t pushes = 0;
    while (chat_push_next(st, cid, &p)) {
        json_t *j = json_loads(p->data, 0, NULL);
        size_t k = json_is_array(j) ? json_array_size(j) : 1;
        assert_true(k <= CHAT_BATCH_MAX);
        assert_true(p->len <= CHAT_BATCH_BYTES);
        for (size_t i = 0; i < k; i++) {
            json_t *m = json_is_array(j) ? json_array_get(j, i) : j;
            char want[16];
            snprintf(want, sizeof want, "s%d", next++);
            assert_string_equal(jstr(m, "text"), want);
        }
        json_decref(j);
        chat_payload_unref(p);
        chat_push_done(st, cid, CHAT_PUSH_OK, 1000);
        pushes++;
    }
    assert_int_equal(next, 100);
    assert_int_equal(pushes, 4); /* 32 + 32 + 32 + 4 */
    /* Big messages: a batch stays within CHAT_BATCH_BYTES (one frame). */
    char big[CHAT_TEXT_MAX + 1];
    memset(big, 'b', CHAT_TEXT_MAX);
    big[CHAT_TEXT_MAX] = '\0';
    for (int i = 0; i < 80; i++)
        send_text(st, CID_A, big);
    size_t total = 0;
    while (chat_push_next(st, cid, &p)) {
        assert_true(p->len <= CHAT_BATCH_BYTES);
        json_t *j = json_loads(p->data, 0, NULL);
        total += json_is_array(j) ? json_array_size(j) : 1;
        json_decref(j);
        chat_payload_unref(p);
        chat_push_done(st, cid, CHAT_PUSH_OK, 1000);
    }
    assert_int_equal(total, 80);
}

static void gone_removes_the_member_and_tells_the_room(void **state)
{
    chat_state_t *st = *state;
    sent_t out[16];
    json_decref(join(st, CID_A, "lobby", "alice"));
    json_decref(join(st, CID_B, "lobby", "bob"));
    json_decref(join(st, CID_C, "lobby", "ghost"));
    sent_free(out, drain(st, out, 16, CHAT_PUSH_OK));
    send_text(st, CID_A, "hello");
    send_text(st, CID_A, "again");

    /* The ghost's push answers 410: it is removed, its queue dropped, and the others are told.
     * Nobody else's message is lost. */
    char cid[CHAT_CID_LEN + 1];
    chat_payload_t *p;
    size_t got_a = 0, got_b = 0, left = 0;
    while (chat_push_next(st, cid, &p)) {
        json_t *j = json_loads(p->data, 0, NULL);
        chat_payload_unref(p);
        if (strcmp(cid, CID_C) == 0) {
            chat_push_done(st, cid, CHAT_PUSH_GONE, 2000);
            json_decref(j);
            continue;
        }
        size_t k = json_is_array(j) ? json_array_size(j) : 1;
        for (size_t i = 0; i < k; i++) {
            json_t *m = json_is_array(j) ? json_array_get(j, i) : j;
            if (strcmp(jstr(m, "type"), "left") == 0) {
                assert_string_equal(jstr(m, "reason"), "gone");
                assert_string_equal(jstr(m, "cid"), CID_C);
                assert_int_equal(json_array_size(json_object_get(m, "members")), 2);
                left++;
            } else {
                assert_string_equal(jstr(m, "type"), "message");
                if (strcmp(cid, CID_A) == 0)
                    got_a++;
                else
                    got_b++;
            }
        }
        chat_push_done(st, cid, CHAT_PUSH_OK, 2000);
        json_decref(j);
    }
    assert_int_equal(got_a, 2);
    assert_int_equal(got_b, 2);
    assert_int_equal(left, 2);
    chat_stats_t s;
    chat_state_stats(st, &s);
    assert_int_equal(s.members, 2);
    assert_int_equal(s.pushes_gone, 1);

    /* A late event of the removed connection creates nobody. */
    chat_event_t ev;
    make_message(&ev, "join", CID_C, "{\"action\":\"join\"}");
    json_t *r = handle(st, &ev, NULL);
    assert_string_equal(jstr(r, "code"), "closed");
    json_decref(r);
    chat_state_stats(st, &s);
    assert_int_equal(s.members, 2);
    /* ... until the tombstone expires (Portico never reuses ids anyway). */
    chat_state_expire(st, 2000 + CHAT_TOMB_MS + 1);
    make_message(&ev, "join", CID_C, "{\"action\":\"join\"}");
    r = handle(st, &ev, NULL);
    assert_string_equal(jstr(r, "type"), "welcome");
    json_decref(r);
    sent_free(out, drain(st, out, 16, CHAT_PUSH_OK));
}

static void disconnect_racing_a_join_leaves_nothing(void **state)
{
    chat_state_t *st = *state;
    chat_event_t ev;
    /* $disconnect overtakes the connection's join (both were in flight at Portico). */
    make_event(&ev, "DISCONNECT", "$disconnect", CID_D, NULL);
    json_decref(handle(st, &ev, NULL));
    make_message(&ev, "join", CID_D, "{\"action\":\"join\",\"room\":\"lobby\"}");
    json_t *r = handle(st, &ev, NULL);
    assert_string_equal(jstr(r, "code"), "closed");
    json_decref(r);
    chat_stats_t s;
    chat_state_stats(st, &s);
    assert_int_equal(s.members, 0);
}

static void unknown_connection_is_adopted(void **state)
{
    chat_state_t *st = *state;
    chat_event_t ev;
    sent_t out[4];
    /* After a backend restart, a live connection sends a message: it is told to join again. */
    make_message(&ev, "sendmessage", CID_A, "{\"action\":\"sendmessage\",\"text\":\"x\"}");
    json_decref(handle(st, &ev, NULL));
    size_t n = drain(st, out, 4, CHAT_PUSH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].cid, CID_A);
    assert_string_equal(jstr(out[0].msg, "code"), "not_joined");
    sent_free(out, n);
}

static void a_stuck_member_loses_messages_not_memory(void **state)
{
    chat_state_t *st = *state;
    sent_t out[CHAT_QUEUE_MAX + 8];
    json_decref(join(st, CID_A, "lobby", "a"));
    json_decref(join(st, CID_B, "lobby", "b"));
    sent_free(out, drain(st, out, 4, CHAT_PUSH_OK));
    /* B's push never completes; A keeps talking. */
    char cid[CHAT_CID_LEN + 1];
    chat_payload_t *stuck;
    send_text(st, CID_A, "first");
    assert_true(chat_push_next(st, cid, &stuck));
    if (strcmp(cid, CID_B) != 0) {
        chat_push_done(st, cid, CHAT_PUSH_OK, 1000);
        chat_payload_unref(stuck);
        assert_true(chat_push_next(st, cid, &stuck));
    }
    assert_string_equal(cid, CID_B);
    /* A receives every message; B's queue holds CHAT_QUEUE_MAX, the rest are dropped. */
    size_t n, to_a = 0;
    for (int i = 0; i < CHAT_QUEUE_MAX + 5; i++) {
        send_text(st, CID_A, "more");
        n = drain(st, out, 4, CHAT_PUSH_OK);
        assert_int_equal(n, 1);
        assert_string_equal(out[0].cid, CID_A);
        to_a += n;
        sent_free(out, n);
    }
    assert_int_equal(to_a, CHAT_QUEUE_MAX + 5);
    chat_stats_t s;
    chat_state_stats(st, &s);
    assert_int_equal(s.pushes_dropped, 5);
    chat_payload_unref(stuck);
    chat_push_done(st, CID_B, CHAT_PUSH_OK, 1000);
    n = drain(st, out, CHAT_QUEUE_MAX + 8, CHAT_PUSH_OK);
    assert_int_equal(n, CHAT_QUEUE_MAX);
    sent_free(out, n);
}

static void silent_connections_that_never_joined_are_forgotten(void **state)
{
    chat_state_t *st = *state;
    chat_event_t ev;
    sent_t out[4];
    make_event(&ev, "CONNECT", "$connect", CID_A, NULL); /* handled at t = 1000 */
    json_decref(handle(st, &ev, NULL));
    json_decref(join(st, CID_B, "lobby", "bob"));
    sent_free(out, drain(st, out, 4, CHAT_PUSH_OK));
    chat_stats_t s;
    chat_state_stats(st, &s);
    assert_int_equal(s.members, 2);
    chat_state_expire(st, 1000 + CHAT_DETACHED_MS);
    chat_state_stats(st, &s);
    assert_int_equal(s.members, 2);
    chat_state_expire(st, 1000 + CHAT_DETACHED_MS + 1);
    chat_state_stats(st, &s);
    assert_int_equal(s.members, 1); /* bob, in a room, stays */
    /* Not a tombstone: if the connection was alive after all, it comes back. */
    make_message(&ev, "join", CID_A, "{\"action\":\"join\"}");
    json_t *r = handle(st, &ev, NULL);
    assert_string_equal(jstr(r, "type"), "welcome");
    json_decref(r);
    sent_free(out, drain(st, out, 4, CHAT_PUSH_OK));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(welcome_has_members_history_and_rooms),
        T(join_leave_and_messages_stay_in_their_room),
        T(typing_goes_to_the_others),
        T(rename_and_move),
        T(history_on_join_is_the_last_fifty),
        T(bad_input_gets_errors),
        T(default_route_dispatches_on_action),
        T(rooms_list_is_busiest_first),
        T(one_push_in_flight_per_member_in_order),
        T(batches_stay_within_their_bounds),
        T(gone_removes_the_member_and_tells_the_room),
        T(disconnect_racing_a_join_leaves_nothing),
        T(unknown_connection_is_adopted),
        T(a_stuck_member_loses_messages_not_memory),
        T(silent_connections_that_never_joined_are_forgotten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
