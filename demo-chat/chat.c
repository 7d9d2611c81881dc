/* chat.c: the chat itself: members, rooms, the route handlers and per-member push queues. */
#include "demo-chat/chat.h"

#include "common/err.h"
#include "common/mem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/*
 * A member is a connection the backend believes is open: created by $connect (or by the first
 * event of a connection it does not know, e.g. after the backend restarted), removed by
 * $disconnect or by a push answered 410. It is in a room once it has sent "join".
 *
 * Each member has its own queue of payloads and at most one push in flight, so a member sees
 * messages in the order they were sent, and a slow or dead connection holds back nothing but
 * its own queue. Members with something to send and nothing in flight wait in `wait_*`, the
 * FIFO the pusher takes work from.
 */
typedef struct room room_t;

typedef struct member {
    char cid[CHAT_CID_LEN + 1];
    char name[CHAT_NAME_MAX + 1];
    char want_room[CHAT_ROOM_MAX + 1]; /* from the $connect query string, "" when none */
    room_t *room;                      /* NULL until joined */
    int64_t since;                     /* when it joined its room, unix ms */
    int64_t seen;                      /* its last event, unix ms */
    struct member *rprev, *rnext;      /* the room's members, in joining order */
    chat_payload_t *q[CHAT_QUEUE_MAX]; /* ring of payloads waiting to be pushed */
    size_t qhead, qn;
    bool inflight;
    bool waiting;
    struct member *wprev, *wnext;
} member_t;

struct room {
    char name[CHAT_ROOM_MAX + 1];
    member_t *head, *tail;
    size_t n;
    chat_hist_t hist;
    uint64_t next_seq;
    int64_t last_active;
};

typedef struct tomb {
    char cid[CHAT_CID_LEN + 1];
    int64_t at;
    struct tomb *next;
} tomb_t;

struct chat_state {
    chat_store_t *store;
    chat_map_t members; /* cid -> member_t */
    chat_map_t rooms;   /* name -> room_t */
    chat_map_t tombs;   /* cid -> tomb_t: connections closed lately; their late events are
                           ignored, so a "join" that raced its own $disconnect creates nobody */
    tomb_t *tomb_head, *tomb_tail;
    member_t *wait_head, *wait_tail;
    size_t inflight;
    chat_stats_t stats;
};

/* ---- rooms ------------------------------------------------------------------------------ */

static room_t *room_get(chat_state_t *st, const char *name, bool create)
{
    room_t *r = chat_map_get(&st->rooms, name);
    if (r || !create || st->rooms.n >= CHAT_ROOMS_MAX)
        return r;
    r = pt_xcalloc(1, sizeof *r);
    strcpy(r->name, name);
    chat_hist_init(&r->hist);
    chat_map_put(&st->rooms, r->name, r);
    return r;
}

static void room_free(room_t *r)
{
    chat_hist_dispose(&r->hist);
    free(r);
}

/* Rooms nobody is in and nobody wrote in go away; the default room stays. */
static void room_maybe_drop(chat_state_t *st, room_t *r)
{
    if (r->n == 0 && r->hist.n == 0 && strcmp(r->name, CHAT_DEFAULT_ROOM) != 0) {
        chat_map_del(&st->rooms, r->name);
        room_free(r);
    }
}

static void members_json(const room_t *r, buf_t *b)
{
    buf_putc(b, '[');
    for (const member_t *m = r->head; m; m = m->rnext) {
        if (m != r->head)
            buf_putc(b, ',');
        buf_puts(b, "{\"cid\":");
        buf_json_str(b, m->cid, strlen(m->cid));
        buf_puts(b, ",\"name\":");
        buf_json_str(b, m->name, strlen(m->name));
        buf_printf(b, ",\"since\":%lld}", (long long)m->since);
    }
    buf_putc(b, ']');
}

static int room_cmp(const void *a, const void *b)
{
    const room_t *x = *(room_t *const *)a, *y = *(room_t *const *)b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    if (x->last_active != y->last_active)
        return x->last_active > y->last_active ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The 50 busiest rooms: most members first, then the most recently active. */
static void rooms_array(const chat_state_t *st, buf_t *b)
{
    room_t **all = pt_xmalloc((st->rooms.n + 1) * sizeof *all);
    size_t n = 0, pos = 0;
    chat_map_node_t *node = NULL;
    room_t *r;
    while ((r = chat_map_next(&st->rooms, &pos, &node)))
        all[n++] = r;
    qsort(all, n, sizeof *all, room_cmp);
    buf_putc(b, '[');
    for (size_t i = 0; i < n && i < 50; i++) {
        if (i)
            buf_putc(b, ',');
        buf_puts(b, "{\"name\":");
        buf_json_str(b, all[i]->name, strlen(all[i]->name));
        buf_printf(b, ",\"members\":%zu,\"messages\":%llu}", all[i]->n,
                   (unsigned long long)all[i]->next_seq);
    }
    buf_putc(b, ']');
    free(all);
}

void chat_rooms_json(const chat_state_t *st, buf_t *out)
{
    buf_puts(out, "{\"type\":\"rooms\",\"rooms\":");
    rooms_array(st, out);
    buf_putc(out, '}');
}

/* ---- push queues ------------------------------------------------------------------------ */

static void wait_add(chat_state_t *st, member_t *m)
{
    if (m->waiting || m->inflight || m->qn == 0)
        return;
    m->waiting = true;
    m->wnext = NULL;
    m->wprev = st->wait_tail;
    if (st->wait_tail)
        st->wait_tail->wnext = m;
    else
        st->wait_head = m;
    st->wait_tail = m;
}

static void wait_del(chat_state_t *st, member_t *m)
{
    if (!m->waiting)
        return;
    if (m->wprev)
        m->wprev->wnext = m->wnext;
    else
        st->wait_head = m->wnext;
    if (m->wnext)
        m->wnext->wprev = m->wprev;
    else
        st->wait_tail = m->wprev;
    m->waiting = false;
    m->wprev = m->wnext = NULL;
}

static void push_to(chat_state_t *st, member_t *m, chat_payload_t *p)
{
    if (m->qn == CHAT_QUEUE_MAX) {
        /* A member this far behind is not reading; it loses messages, nobody else does. */
        st->stats.pushes_dropped++;
        return;
    }
    m->q[(m->qhead + m->qn) % CHAT_QUEUE_MAX] = chat_payload_ref(p);
    m->qn++;
    st->stats.pushes_queued++;
    wait_add(st, m);
}

static void push_text(chat_state_t *st, member_t *m, const buf_t *text)
{
    chat_payload_t *p = chat_payload_new(text->p, text->len);
    push_to(st, m, p);
    chat_payload_unref(p);
}

static void broadcast(chat_state_t *st, room_t *r, const buf_t *text, const member_t *except)
{
    chat_payload_t *p = chat_payload_new(text->p, text->len);
    for (member_t *m = r->head; m; m = m->rnext)
        if (m != except)
            push_to(st, m, p);
    chat_payload_unref(p);
}

/* Takes the member's oldest payload; the queue's reference moves to the caller. */
static chat_payload_t *queue_pop(member_t *m)
{
    chat_payload_t *p = m->q[m->qhead];
    m->q[m->qhead] = NULL;
    m->qhead = (m->qhead + 1) % CHAT_QUEUE_MAX;
    m->qn--;
    return p;
}

bool chat_push_next(chat_state_t *st, char cid[CHAT_CID_LEN + 1], chat_payload_t **payload)
{
    member_t *m = st->wait_head;
    if (!m)
        return false;
    wait_del(st, m);
    chat_payload_t *first = queue_pop(m);
    if (m->qn == 0 || first->len + 2 > CHAT_BATCH_BYTES) {
        *payload = first;
    } else {
        /* Several payloads wait (a burst, or the member's last push was slow): they leave
         * together as one JSON array, in order, in one push and one frame. */
        buf_t b = BUF_INIT;
        buf_putc(&b, '[');
        buf_append(&b, first->data, first->len);
        chat_payload_unref(first);
        for (size_t n = 1; m->qn && n < CHAT_BATCH_MAX; n++) {
            const chat_payload_t *next = m->q[m->qhead];
            if (b.len + 1 + next->len + 1 > CHAT_BATCH_BYTES)
                break;
            chat_payload_t *p = queue_pop(m);
            buf_putc(&b, ',');
            buf_append(&b, p->data, p->len);
            chat_payload_unref(p);
        }
        buf_putc(&b, ']');
        *payload = chat_payload_new(b.p, b.len);
        buf_free(&b);
        st->stats.pushes_batched++;
    }
    m->inflight = true;
    st->inflight++;
    memcpy(cid, m->cid, CHAT_CID_LEN + 1);
    return true;
}

/* ---- members ---------------------------------------------------------------------------- */

static bool tombstoned(const chat_state_t *st, const char *cid)
{
    return chat_map_get(&st->tombs, cid) != NULL;
}

static void tomb_add(chat_state_t *st, const char *cid, int64_t now)
{
    if (tombstoned(st, cid))
        return;
    if (st->tombs.n >= CHAT_TOMBS_MAX)
        chat_state_expire(st, INT64_MAX); /* drop the oldest */
    tomb_t *t = pt_xcalloc(1, sizeof *t);
    memcpy(t->cid, cid, CHAT_CID_LEN + 1);
    t->at = now;
    if (st->tomb_tail)
        st->tomb_tail->next = t;
    else
        st->tomb_head = t;
    st->tomb_tail = t;
    chat_map_put(&st->tombs, t->cid, t);
}

/*
 * A member that never joined and has been silent for CHAT_DETACHED_MS is forgotten, without a
 * tombstone: its $connect may have been the last we heard of it (an upgrade abandoned after
 * $connect gets no $disconnect). If it is alive, its next event adopts it again.
 */
static void expire_detached(chat_state_t *st, int64_t now_ms)
{
    member_t *old[256];
    size_t n = 0, pos = 0;
    chat_map_node_t *node = NULL;
    member_t *m;
    while (n < PT_ARRAY_LEN(old) && (m = chat_map_next(&st->members, &pos, &node)))
        if (!m->room && !m->inflight && m->qn == 0 && m->seen + CHAT_DETACHED_MS < now_ms)
            old[n++] = m;
    for (size_t i = 0; i < n; i++) {
        chat_map_del(&st->members, old[i]->cid);
        free(old[i]);
    }
}

void chat_state_expire(chat_state_t *st, int64_t now_ms)
{
    if (now_ms != INT64_MAX)
        expire_detached(st, now_ms);
    /* now_ms == INT64_MAX: make room for one by dropping the oldest. */
    bool one = now_ms == INT64_MAX;
    while (st->tomb_head && (one || st->tomb_head->at + CHAT_TOMB_MS < now_ms)) {
        tomb_t *t = st->tomb_head;
        st->tomb_head = t->next;
        if (!st->tomb_head)
            st->tomb_tail = NULL;
        chat_map_del(&st->tombs, t->cid);
        free(t);
        if (one)
            break;
    }
}

/* The member for cid, created (outside any room) when unknown and not closed lately. */
static member_t *member_get(chat_state_t *st, const char *cid, bool create)
{
    member_t *m = chat_map_get(&st->members, cid);
    if (m || !create || tombstoned(st, cid))
        return m;
    m = pt_xcalloc(1, sizeof *m);
    memcpy(m->cid, cid, CHAT_CID_LEN + 1);
    strcpy(m->name, CHAT_DEFAULT_NAME);
    chat_map_put(&st->members, m->cid, m);
    return m;
}

static void presence(chat_state_t *st, room_t *r, const char *type, const member_t *who,
                     const char *extra_key, const char *extra_val)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"type\":\"%s\",\"room\":", type);
    buf_json_str(&b, r->name, strlen(r->name));
    buf_puts(&b, ",\"cid\":");
    buf_json_str(&b, who->cid, strlen(who->cid));
    buf_puts(&b, ",\"name\":");
    buf_json_str(&b, who->name, strlen(who->name));
    if (extra_key) {
        buf_printf(&b, ",\"%s\":", extra_key);
        buf_json_str(&b, extra_val, strlen(extra_val));
    }
    buf_puts(&b, ",\"members\":");
    members_json(r, &b);
    buf_putc(&b, '}');
    broadcast(st, r, &b, who);
    buf_free(&b);
}

static void room_leave(chat_state_t *st, member_t *m, const char *reason, int64_t now)
{
    room_t *r = m->room;
    if (!r)
        return;
    if (m->rprev)
        m->rprev->rnext = m->rnext;
    else
        r->head = m->rnext;
    if (m->rnext)
        m->rnext->rprev = m->rprev;
    else
        r->tail = m->rprev;
    m->rprev = m->rnext = NULL;
    m->room = NULL;
    r->n--;
    r->last_active = now;
    presence(st, r, "left", m, "reason", reason);
    room_maybe_drop(st, r);
}

static void room_enter(chat_state_t *st, member_t *m, room_t *r, int64_t now)
{
    m->room = r;
    m->since = now;
    m->rnext = NULL;
    m->rprev = r->tail;
    if (r->tail)
        r->tail->rnext = m;
    else
        r->head = m;
    r->tail = m;
    r->n++;
    r->last_active = now;
    presence(st, r, "joined", m, NULL, NULL);
}

static void member_remove(chat_state_t *st, member_t *m, const char *reason, int64_t now)
{
    room_leave(st, m, reason, now);
    wait_del(st, m);
    for (size_t i = 0; i < m->qn; i++)
        chat_payload_unref(m->q[(m->qhead + i) % CHAT_QUEUE_MAX]);
    chat_map_del(&st->members, m->cid);
    tomb_add(st, m->cid, now);
    free(m);
}

void chat_push_done(chat_state_t *st, const char *cid, chat_push_outcome_t outcome, int64_t now_ms)
{
    if (st->inflight)
        st->inflight--;
    switch (outcome) {
    case CHAT_PUSH_OK:
        st->stats.pushes_ok++;
        break;
    case CHAT_PUSH_GONE:
        st->stats.pushes_gone++;
        break;
    case CHAT_PUSH_THROTTLED:
        st->stats.pushes_throttled++;
        break;
    case CHAT_PUSH_FAILED:
        st->stats.pushes_failed++;
        break;
    }
    member_t *m = chat_map_get(&st->members, cid);
    if (!m)
        return;
    m->inflight = false;
    if (outcome == CHAT_PUSH_GONE) {
        /* The $disconnect never reached us (it is best effort, in AWS too): clean up now,
         * and tell the room, instead of failing the whole broadcast as AWS's sample does. */
        member_remove(st, m, "gone", now_ms);
        return;
    }
    wait_add(st, m);
}

/* ---- handlers --------------------------------------------------------------------------- */

static void reply_error(chat_reply_t *reply, const char *code, const char *message)
{
    buf_puts(&reply->body, "{\"type\":\"error\",\"code\":");
    buf_json_str(&reply->body, code, strlen(code));
    buf_puts(&reply->body, ",\"message\":");
    buf_json_str(&reply->body, message, strlen(message));
    buf_putc(&reply->body, '}');
}

static void push_error(chat_state_t *st, member_t *m, const char *code, const char *message)
{
    chat_reply_t tmp = {0, BUF_INIT};
    reply_error(&tmp, code, message);
    push_text(st, m, &tmp.body);
    buf_free(&tmp.body);
}

static void on_connect(chat_state_t *st, const chat_event_t *ev, chat_reply_t *reply)
{
    char room[CHAT_ROOM_MAX + 1] = "", name[CHAT_NAME_MAX + 1] = "";
    if (ev->q_room && chat_room_name(ev->q_room, room) != PT_OK) {
        /* A non-2xx statusCode refuses the upgrade; the client gets this status. */
        reply->status = 400;
        buf_puts(&reply->body, "room names are 1-32 of a-z 0-9 _ -");
        return;
    }
    if (ev->q_name && chat_nick(ev->q_name, name) != PT_OK) {
        reply->status = 400;
        buf_puts(&reply->body, "nicknames are 1-32 characters");
        return;
    }
    member_t *m = member_get(st, ev->cid, true);
    if (m) {
        if (name[0])
            strcpy(m->name, name);
        strcpy(m->want_room, room);
    }
}

static void welcome(chat_state_t *st, const member_t *m, buf_t *b)
{
    const room_t *r = m->room;
    buf_puts(b, "{\"type\":\"welcome\",\"connectionId\":");
    buf_json_str(b, m->cid, strlen(m->cid));
    buf_puts(b, ",\"room\":");
    buf_json_str(b, r->name, strlen(r->name));
    buf_puts(b, ",\"name\":");
    buf_json_str(b, m->name, strlen(m->name));
    buf_puts(b, ",\"members\":");
    members_json(r, b);
    buf_puts(b, ",\"history\":[");
    for (size_t i = 0; i < r->hist.n; i++) {
        if (i)
            buf_putc(b, ',');
        const chat_payload_t *msg = chat_hist_at(&r->hist, i, NULL);
        buf_append(b, msg->data, msg->len);
    }
    buf_puts(b, "],\"rooms\":");
    rooms_array(st, b);
    buf_putc(b, '}');
}

static void on_join(chat_state_t *st, member_t *m, const chat_event_t *ev, int64_t now,
                    chat_reply_t *reply)
{
    char room[CHAT_ROOM_MAX + 1], name[CHAT_NAME_MAX + 1];
    const char *want = chat_event_str(ev, "room");
    if (!want)
        want = m->room ? m->room->name : m->want_room[0] ? m->want_room : CHAT_DEFAULT_ROOM;
    if (chat_room_name(want, room) != PT_OK) {
        reply_error(reply, "bad_room", "room names are 1-32 of a-z 0-9 _ -");
        return;
    }
    const char *nick = chat_event_str(ev, "name");
    if (chat_nick(nick ? nick : m->name, name) != PT_OK) {
        reply_error(reply, "bad_name", "nicknames are 1-32 characters, no control characters");
        return;
    }
    room_t *r = room_get(st, room, true);
    if (!r) {
        reply_error(reply, "too_many_rooms", "there are too many rooms; join an existing one");
        return;
    }
    if (m->room != r && r->n >= CHAT_ROOM_MEMBERS_MAX) {
        reply_error(reply, "room_full", "this room is full");
        room_maybe_drop(st, r);
        return;
    }
    st->stats.joins++;
    if (m->room == r) {
        if (strcmp(m->name, name) != 0) {
            char old[CHAT_NAME_MAX + 1];
            strcpy(old, m->name);
            strcpy(m->name, name);
            r->last_active = now;
            presence(st, r, "renamed", m, "old", old);
        }
    } else {
        room_leave(st, m, "moved", now);
        strcpy(m->name, name);
        room_enter(st, m, r, now);
    }
    welcome(st, m, &reply->body);
}

static void on_send(chat_state_t *st, member_t *m, const chat_event_t *ev, int64_t now)
{
    /* AWS's sample sends {"action":"sendmessage","data":"..."}; the demo page sends "text". */
    const char *text = chat_event_str(ev, "text");
    if (!text)
        text = chat_event_str(ev, "data");
    if (!m->room) {
        push_error(st, m, "not_joined", "send {\"action\":\"join\"} first");
        return;
    }
    size_t n = text ? strlen(text) : 0;
    if (n == 0 || n > CHAT_TEXT_MAX) {
        push_error(st, m, "bad_text", "messages are 1-1000 bytes of text");
        return;
    }
    room_t *r = m->room;
    uint64_t seq = r->next_seq++;
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"type\":\"message\",\"id\":%llu,\"room\":", (unsigned long long)seq);
    buf_json_str(&b, r->name, strlen(r->name));
    buf_puts(&b, ",\"cid\":");
    buf_json_str(&b, m->cid, strlen(m->cid));
    buf_puts(&b, ",\"name\":");
    buf_json_str(&b, m->name, strlen(m->name));
    buf_puts(&b, ",\"text\":");
    buf_json_str(&b, text, n);
    buf_printf(&b, ",\"ts\":%lld}", (long long)now);
    chat_payload_t *p = chat_payload_new(b.p, b.len);
    chat_hist_push(&r->hist, seq, p);
    if (st->store && chat_store_append(st->store, r->name, seq, b.p, b.len) != PT_OK)
        st->stats.store_errors++; /* the message still goes out; only its history is lost */
    st->stats.messages++;
    r->last_active = now;
    /* Everyone in the room, the sender included, gets the message the same way, as in AWS's
     * sample: the order a client shows is the order the backend stored. */
    for (member_t *o = r->head; o; o = o->rnext)
        push_to(st, o, p);
    chat_payload_unref(p);
    buf_free(&b);
}

static void on_typing(chat_state_t *st, member_t *m, const chat_event_t *ev)
{
    if (!m->room)
        return;
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"type\":\"typing\",\"cid\":");
    buf_json_str(&b, m->cid, strlen(m->cid));
    buf_puts(&b, ",\"name\":");
    buf_json_str(&b, m->name, strlen(m->name));
    buf_printf(&b, ",\"typing\":%s}", chat_event_bool(ev, "typing", true) ? "true" : "false");
    broadcast(st, m->room, &b, m);
    buf_free(&b);
}

static void on_ping(const member_t *m, const chat_event_t *ev, int64_t now, chat_reply_t *reply)
{
    char t[64];
    buf_puts(&reply->body, "{\"type\":\"pong\",\"t\":");
    buf_puts(&reply->body, chat_event_num(ev, "t", t, sizeof t) ? t : "null");
    buf_puts(&reply->body, ",\"connectionId\":");
    buf_json_str(&reply->body, m->cid, strlen(m->cid));
    buf_printf(&reply->body, ",\"serverTime\":%lld}", (long long)now);
}

static void on_message(chat_state_t *st, const chat_event_t *ev, int64_t now, chat_reply_t *reply)
{
    /* The route key names the handler; on $default the body's action does (so a config with
     * nothing but $default still works), and anything else gets a hint, as AWS's tutorial's
     * $default route gives one. */
    const char *action = ev->route_key;
    if (strcmp(action, "$default") == 0)
        action = ev->action ? ev->action : "";
    member_t *m = member_get(st, ev->cid, true);
    if (!m) {
        reply_error(reply, "closed", "this connection is closed");
        return;
    }
    if (strcmp(action, "join") == 0)
        on_join(st, m, ev, now, reply);
    else if (strcmp(action, "sendmessage") == 0)
        on_send(st, m, ev, now);
    else if (strcmp(action, "typing") == 0)
        on_typing(st, m, ev);
    else if (strcmp(action, "rooms") == 0)
        chat_rooms_json(st, &reply->body);
    else if (strcmp(action, "ping") == 0)
        on_ping(m, ev, now, reply);
    else if (!ev->body_json)
        reply_error(reply, "not_json",
                    "send JSON objects with an \"action\": join, sendmessage, typing, rooms, ping");
    else
        reply_error(reply, "unknown_action",
                    "unknown action; use join, sendmessage, typing, rooms or ping");
}

int chat_handle(chat_state_t *st, const chat_event_t *ev, int64_t now_ms, chat_reply_t *reply)
{
    reply->status = 200;
    buf_reset(&reply->body);
    st->stats.events++;
    switch (ev->kind) {
    case CHAT_EV_CONNECT:
        on_connect(st, ev, reply);
        break;
    case CHAT_EV_DISCONNECT: {
        member_t *m = member_get(st, ev->cid, false);
        if (m)
            member_remove(st, m, "disconnect", now_ms);
        else
            tomb_add(st, ev->cid, now_ms);
        break;
    }
    case CHAT_EV_MESSAGE:
        on_message(st, ev, now_ms, reply);
        break;
    }
    member_t *m = chat_map_get(&st->members, ev->cid);
    if (m)
        m->seen = now_ms;
    return PT_OK;
}

/* ---- state ------------------------------------------------------------------------------ */

static void load_one(void *ctx, const char *room, uint64_t seq, const char *json, size_t len)
{
    chat_state_t *st = ctx;
    char name[CHAT_ROOM_MAX + 1];
    if (chat_room_name(room, name) != PT_OK || strcmp(name, room) != 0)
        return;
    /* Stored by this program, but a damaged file must not reach clients as broken JSON. */
    json_t *j = json_loadb(json, len, 0, NULL);
    bool ok = json_is_object(j);
    json_decref(j);
    room_t *r = ok ? room_get(st, room, true) : NULL;
    if (!r)
        return;
    chat_payload_t *p = chat_payload_new(json, len);
    chat_hist_push(&r->hist, seq, p);
    chat_payload_unref(p);
    if (seq >= r->next_seq)
        r->next_seq = seq + 1;
}

int chat_state_create(chat_store_t *store, chat_state_t **out)
{
    chat_state_t *st = pt_xcalloc(1, sizeof *st);
    st->store = store;
    chat_map_init(&st->members);
    chat_map_init(&st->rooms);
    chat_map_init(&st->tombs);
    room_get(st, CHAT_DEFAULT_ROOM, true);
    int rc = store ? chat_store_each(store, load_one, st) : PT_OK;
    if (rc != PT_OK) {
        chat_state_destroy(st);
        *out = NULL;
        return rc;
    }
    *out = st;
    return PT_OK;
}

void chat_state_destroy(chat_state_t *st)
{
    if (!st)
        return;
    size_t pos = 0;
    chat_map_node_t *node = NULL;
    member_t *m;
    while ((m = chat_map_next(&st->members, &pos, &node))) {
        for (size_t i = 0; i < m->qn; i++)
            chat_payload_unref(m->q[(m->qhead + i) % CHAT_QUEUE_MAX]);
        free(m);
    }
    pos = 0;
    node = NULL;
    room_t *r;
    while ((r = chat_map_next(&st->rooms, &pos, &node)))
        room_free(r);
    while (st->tomb_head) {
        tomb_t *t = st->tomb_head;
        st->tomb_head = t->next;
        free(t);
    }
    chat_map_dispose(&st->members);
    chat_map_dispose(&st->rooms);
    chat_map_dispose(&st->tombs);
    free(st);
}

void chat_state_stats(const chat_state_t *st, chat_stats_t *out)
{
    *out = st->stats;
    out->members = st->members.n;
    out->rooms = st->rooms.n;
    out->inflight = st->inflight;
}
