/* test_history.c: the history ring, its LMDB store, and history surviving a restart. */
#include "chat_test.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

typedef struct fixture {
    char dir[64];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/chat-hist-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static chat_payload_t *msg(uint64_t seq)
{
    char text[64];
    int n = snprintf(text, sizeof text, "{\"id\":%llu}", (unsigned long long)seq);
    return chat_payload_new(text, (size_t)n);
}

static void ring_fills_then_wraps(void **state)
{
    (void)state;
    chat_hist_t h;
    chat_hist_init(&h);
    assert_null(chat_hist_at(&h, 0, NULL));
    for (uint64_t i = 0; i < 10; i++) {
        chat_payload_t *p = msg(i);
        chat_hist_push(&h, i, p);
        chat_payload_unref(p);
    }
    assert_int_equal(h.n, 10);
    uint64_t seq;
    assert_string_equal(chat_hist_at(&h, 0, &seq)->data, "{\"id\":0}");
    assert_int_equal(seq, 0);
    for (uint64_t i = 10; i < 2 * CHAT_HISTORY + 7; i++) {
        chat_payload_t *p = msg(i);
        chat_hist_push(&h, i, p);
        chat_payload_unref(p);
    }
    /* Only the last CHAT_HISTORY remain, oldest first. */
    assert_int_equal(h.n, CHAT_HISTORY);
    for (size_t i = 0; i < CHAT_HISTORY; i++) {
        const chat_payload_t *p = chat_hist_at(&h, i, &seq);
        assert_non_null(p);
        assert_int_equal(seq, CHAT_HISTORY + 7 + i);
        char want[64];
        snprintf(want, sizeof want, "{\"id\":%llu}", (unsigned long long)seq);
        assert_string_equal(p->data, want);
    }
    assert_null(chat_hist_at(&h, CHAT_HISTORY, NULL));
    chat_hist_dispose(&h); /* frees every payload: LSan checks */
}

static void ring_shares_payloads(void **state)
{
    (void)state;
    chat_hist_t h;
    chat_hist_init(&h);
    chat_payload_t *p = msg(1);
    chat_hist_push(&h, 1, p);
    assert_int_equal(p->refs, 2);
    chat_hist_dispose(&h);
    assert_int_equal(p->refs, 1);
    chat_payload_unref(p);
}

typedef struct seen {
    size_t n;
    uint64_t seq[400];
    char rooms[400][CHAT_ROOM_MAX + 1];
} seen_t;

static void collect(void *ctx, const char *room, uint64_t seq, const char *json, size_t len)
{
    seen_t *s = ctx;
    char want[64];
    snprintf(want, sizeof want, "{\"id\":%llu}", (unsigned long long)seq);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(json, want, len);
    assert_true(s->n < 400);
    s->seq[s->n] = seq;
    snprintf(s->rooms[s->n], sizeof s->rooms[0], "%s", room);
    s->n++;
}

static void store_keeps_the_last_messages_of_each_room(void **state)
{
    fixture_t *f = *state;
    chat_store_t *st;
    char err[256];
    assert_int_equal(chat_store_open(f->dir, &st, err, sizeof err), PT_OK);
    const char *rooms[] = {"b-room", "a", "a-"};
    for (size_t r = 0; r < 3; r++) {
        size_t count = r == 0 ? 120 : 3;
        for (uint64_t i = 0; i < count; i++) {
            char text[64];
            int n = snprintf(text, sizeof text, "{\"id\":%llu}", (unsigned long long)i);
            assert_int_equal(chat_store_append(st, rooms[r], i, text, (size_t)n), PT_OK);
        }
    }
    assert_int_equal(chat_store_sync(st), PT_OK);
    assert_int_equal(chat_store_sync(st), PT_OK); /* nothing new: no-op */
    seen_t *s = calloc(1, sizeof *s);
    assert_int_equal(chat_store_each(st, collect, s), PT_OK);
    /* By room (bytewise: "a" < "a-" < "b-room"), then by sequence; 120 trimmed to 50. */
    assert_int_equal(s->n, 3 + 3 + CHAT_HISTORY);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(s->rooms[i], "a");
        assert_int_equal(s->seq[i], i);
        assert_string_equal(s->rooms[3 + i], "a-");
    }
    for (size_t i = 0; i < CHAT_HISTORY; i++) {
        assert_string_equal(s->rooms[6 + i], "b-room");
        assert_int_equal(s->seq[6 + i], 120 - CHAT_HISTORY + i);
    }
    free(s);
    char long_room[CHAT_ROOM_MAX + 2];
    memset(long_room, 'x', sizeof long_room - 1);
    long_room[sizeof long_room - 1] = '\0';
    assert_int_equal(chat_store_append(st, long_room, 0, "{}", 2), PT_EINVAL);
    chat_store_close(st);
}

static void store_open_fails_cleanly(void **state)
{
    (void)state;
    chat_store_t *st = (chat_store_t *)1;
    char err[256] = "";
    assert_int_equal(chat_store_open("/proc/no/such/dir", &st, err, sizeof err), PT_EIO);
    assert_null(st);
    assert_non_null(strstr(err, "/proc/no/such/dir"));
}

/* The backend restarts: the rooms and their last messages come back from the store, and new
 * messages continue the sequence. */
static void history_survives_a_restart(void **state)
{
    fixture_t *f = *state;
    char err[256];
    chat_store_t *store;
    chat_state_t *st;
    chat_event_t ev;
    sent_t out[256];
    assert_int_equal(chat_store_open(f->dir, &store, err, sizeof err), PT_OK);
    assert_int_equal(chat_state_create(store, &st), PT_OK);
    make_message(&ev, "join", CID_A, "{\"action\":\"join\",\"room\":\"keep\",\"name\":\"al\"}");
    json_decref(handle(st, &ev, NULL));
    for (int i = 0; i < 60; i++) {
        char frame[96];
        snprintf(frame, sizeof frame, "{\"action\":\"sendmessage\",\"text\":\"m%d\"}", i);
        make_message(&ev, "sendmessage", CID_A, frame);
        json_decref(handle(st, &ev, NULL));
        sent_free(out, drain(st, out, 256, CHAT_PUSH_OK));
    }
    chat_state_destroy(st);
    chat_store_close(store);

    assert_int_equal(chat_store_open(f->dir, &store, err, sizeof err), PT_OK);
    assert_int_equal(chat_state_create(store, &st), PT_OK);
    make_message(&ev, "join", CID_B, "{\"action\":\"join\",\"room\":\"keep\",\"name\":\"bo\"}");
    json_t *w = handle(st, &ev, NULL);
    json_t *hist = json_object_get(w, "history");
    assert_int_equal(json_array_size(hist), CHAT_HISTORY);
    assert_string_equal(jstr(json_array_get(hist, 0), "text"), "m10");
    assert_string_equal(jstr(json_array_get(hist, CHAT_HISTORY - 1), "text"), "m59");
    assert_string_equal(jstr(json_array_get(hist, 0), "name"), "al");
    json_decref(w);
    make_message(&ev, "sendmessage", CID_B, "{\"action\":\"sendmessage\",\"text\":\"after\"}");
    json_decref(handle(st, &ev, NULL));
    size_t n = drain(st, out, 256, CHAT_PUSH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(json_integer_value(json_object_get(out[0].msg, "id")), 60);
    sent_free(out, n);
    chat_state_destroy(st);
    chat_store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_fills_then_wraps),
        cmocka_unit_test(ring_shares_payloads),
        cmocka_unit_test_setup_teardown(store_keeps_the_last_messages_of_each_room, setup,
                                        teardown),
        cmocka_unit_test(store_open_fails_cleanly),
        cmocka_unit_test_setup_teardown(history_survives_a_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
