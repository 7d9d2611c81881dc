/* chat.h: demo-chat's logic: Lambda proxy events, rooms and members, history, push queues. */
#ifndef PORTICO_DEMO_CHAT_H
#define PORTICO_DEMO_CHAT_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Everything here is single-threaded and does no network I/O: the server (server.c) feeds it
 * the events Portico POSTs, sends back the Lambda proxy result it builds, and drains the push
 * queues it fills. Only the history store (history.c) touches a file, an LMDB environment.
 *
 * How the parts fit:
 *
 *   event (JSON) --chat_event_parse--> chat_event_t --chat_handle--> reply (statusCode, body)
 *                                                         |
 *                                                         +--> payloads queued per member
 *   pusher: chat_push_next (one in flight per member, so each member sees messages in order)
 *           ... POST @connections ...
 *           chat_push_done (200 ok, 410 gone: the member is removed and the room told)
 *
 * Status codes are Portico's (common/err.h): 0 ok, negative PT_E* on failure.
 */

#define CHAT_CID_LEN          16    /* connection ids: 16 chars, base64url, one '=' */
#define CHAT_ROOM_MAX         32    /* room names: 1..32 of [a-z0-9_-] (input is lowercased) */
#define CHAT_NAME_MAX         32    /* nicknames: 1..32 bytes of UTF-8, no control characters */
#define CHAT_TEXT_MAX         1000  /* message text, bytes */
#define CHAT_HISTORY          50    /* messages kept per room and sent on joining */
#define CHAT_ROOMS_MAX        256   /* rooms kept (with their history) */
#define CHAT_ROOM_MEMBERS_MAX 500   /* members of one room */
#define CHAT_QUEUE_MAX        256   /* payloads waiting for one member; more are dropped */
#define CHAT_BATCH_MAX        32    /* payloads one push may carry, as a JSON array */
#define CHAT_BATCH_BYTES      32768 /* ... in at most this many bytes (one WebSocket frame) */
#define CHAT_TOMBS_MAX        10000 /* recently closed connection ids remembered */
#define CHAT_TOMB_MS          (120 * 1000) /* ... for this long */
#define CHAT_DETACHED_MS      (300 * 1000) /* connections that never joined, forgotten after */
#define CHAT_DEFAULT_ROOM     "lobby"
#define CHAT_DEFAULT_NAME     "guest"

/* ---- events (event.c) ------------------------------------------------------------------- */

typedef enum chat_ev_kind {
    CHAT_EV_CONNECT,
    CHAT_EV_MESSAGE,
    CHAT_EV_DISCONNECT,
} chat_ev_kind_t;

/*
 * A Lambda proxy event as API Gateway (and Portico) sends it to an AWS_PROXY integration.
 * String pointers point into the parsed tree and live until chat_event_dispose.
 */
typedef struct chat_event {
    chat_ev_kind_t kind;
    const char *route_key;      /* requestContext.routeKey */
    char cid[CHAT_CID_LEN + 1]; /* requestContext.connectionId, shape checked */
    const char *stage;          /* requestContext.stage */
    const char *source_ip;      /* requestContext.identity.sourceIp, "" when absent */
    int64_t request_time_ms;    /* requestContext.requestTimeEpoch, 0 when absent */
    int64_t connected_at_ms;    /* requestContext.connectedAt, 0 when absent */
    const char *q_room;         /* CONNECT: queryStringParameters.room, NULL when absent */
    const char *q_name;         /* CONNECT: queryStringParameters.name, NULL when absent */
    const char *body;           /* MESSAGE: the client's text, verbatim; NULL otherwise */
    size_t body_len;
    void *body_json;     /* MESSAGE: the body parsed when it is a JSON object (json_t *), or NULL */
    const char *action;  /* body_json's "action" when it is a string, else NULL */
    int disconnect_code; /* DISCONNECT: disconnectStatusCode, 0 when absent */
    const char *disconnect_reason; /* DISCONNECT: disconnectReason, "" when absent */
    void *_root;                   /* the parsed event (json_t *) */
} chat_event_t;

/*
 * Parses an event. Returns PT_OK; PT_EPARSE when the text is not JSON or not an event (no
 * requestContext, an unknown eventType, a connectionId of the wrong shape). On success the
 * caller disposes of the event with chat_event_dispose; on failure nothing is kept.
 */
int chat_event_parse(const char *text, size_t len, chat_event_t *ev);
void chat_event_dispose(chat_event_t *ev);

/* Body field helpers (MESSAGE): the string or boolean at `key`, or NULL / def when absent. */
const char *chat_event_str(const chat_event_t *ev, const char *key);
bool chat_event_bool(const chat_event_t *ev, const char *key, bool def);
/* A number at `key` as JSON text ("12.5"), into out (cap bytes); false when not a number. */
bool chat_event_num(const chat_event_t *ev, const char *key, char *out, size_t cap);

/* Appends a Lambda proxy result: {"statusCode":N,"body":"..."} (body NULL: no body key). */
void chat_result_json(buf_t *out, int status, const char *body, size_t body_len);

/* True when s[0..n) has the shape of a connection id (16 base64url chars, the last '='). */
bool chat_cid_valid(const char *s, size_t n);

/*
 * Normalises a room name: lowercases ASCII, accepts 1..CHAT_ROOM_MAX of [a-z0-9_-].
 * out needs CHAT_ROOM_MAX + 1 bytes. Returns PT_OK or PT_EINVAL.
 */
int chat_room_name(const char *in, char out[CHAT_ROOM_MAX + 1]);

/*
 * Normalises a nickname: trims spaces, accepts 1..CHAT_NAME_MAX bytes of valid UTF-8 without
 * control characters. out needs CHAT_NAME_MAX + 1 bytes. Returns PT_OK or PT_EINVAL.
 */
int chat_nick(const char *in, char out[CHAT_NAME_MAX + 1]);

/* ---- refcounted payloads ---------------------------------------------------------------- */

/* One message for clients; a broadcast queues the same payload for every member. */
typedef struct chat_payload {
    unsigned refs;
    size_t len;
    char data[]; /* NUL-terminated */
} chat_payload_t;

chat_payload_t *chat_payload_new(const char *data, size_t len); /* refs = 1 */
chat_payload_t *chat_payload_ref(chat_payload_t *p);
void chat_payload_unref(chat_payload_t *p);

/* ---- history (history.c) ---------------------------------------------------------------- */

/* The last CHAT_HISTORY messages of a room, oldest first; each is the message's JSON text. */
typedef struct chat_hist {
    chat_payload_t *msg[CHAT_HISTORY];
    uint64_t seq[CHAT_HISTORY];
    size_t head; /* index of the oldest */
    size_t n;
} chat_hist_t;

void chat_hist_init(chat_hist_t *h);
void chat_hist_dispose(chat_hist_t *h);
/* Adds a message (takes a reference), dropping the oldest when full. */
void chat_hist_push(chat_hist_t *h, uint64_t seq, chat_payload_t *msg);
/* The i-th message, 0 = oldest; NULL when i >= n. */
const chat_payload_t *chat_hist_at(const chat_hist_t *h, size_t i, uint64_t *seq);

/*
 * The history store: one LMDB environment in its own directory. Key: room name, NUL, 8-byte
 * big-endian sequence number; value: the message JSON. Only the last CHAT_HISTORY messages of
 * each room are kept. Commits do not fsync (MDB_NOSYNC); chat_store_sync flushes, and the
 * server calls it once a second and at exit: a crash loses at most a second of messages,
 * never the file's consistency.
 */
typedef struct chat_store chat_store_t;

/* Creates dir when missing, opens the environment. PT_OK, PT_EIO (message in *err). */
int chat_store_open(const char *dir, chat_store_t **out, char *err, size_t err_cap);
void chat_store_close(chat_store_t *s);
/* Stores message seq of room and drops the one CHAT_HISTORY before it. PT_OK, PT_EMAPFULL,
 * PT_EIO. */
int chat_store_append(chat_store_t *s, const char *room, uint64_t seq, const char *json,
                      size_t len);
typedef void (*chat_store_each_cb)(void *ctx, const char *room, uint64_t seq, const char *json,
                                   size_t len);
/* Calls cb for every stored message, by room then sequence. PT_OK or PT_EIO. */
int chat_store_each(chat_store_t *s, chat_store_each_cb cb, void *ctx);
/* Flushes committed data to disk when anything changed since the last call. PT_OK, PT_EIO. */
int chat_store_sync(chat_store_t *s);

/* ---- rooms, members, pushes (chat.c) ---------------------------------------------------- */

typedef struct chat_state chat_state_t;

typedef struct chat_stats {
    uint64_t events, joins, messages, pushes_queued, pushes_batched, pushes_ok, pushes_gone,
        pushes_failed, pushes_throttled, pushes_dropped, store_errors;
    size_t members, rooms, inflight;
} chat_stats_t;

/*
 * Creates the state. store may be NULL (history then lives in memory only); when given, the
 * rooms it holds are loaded with their history, and the state does not own it.
 */
int chat_state_create(chat_store_t *store, chat_state_t **out);
void chat_state_destroy(chat_state_t *st);
void chat_state_stats(const chat_state_t *st, chat_stats_t *out);

/* What the integration answers: the Lambda proxy result's statusCode and body. */
typedef struct chat_reply {
    int status;
    buf_t body; /* empty: no body (one-way routes ignore it anyway) */
} chat_reply_t;

/*
 * Handles one event at time now_ms. Always fills reply (caller frees reply->body) and
 * returns PT_OK; what went wrong for a client is in the reply or in a payload pushed to it.
 *
 *   $connect     room and name in the query string are checked (400 when malformed)
 *   $disconnect  the member leaves its room ("left", reason "disconnect")
 *   join         {"room","name"}: joins, moves or renames; replies "welcome" with the members
 *                and the last messages
 *   sendmessage  {"text"} (or AWS's sample {"data"}): stored, then pushed to the whole room
 *   typing       {"typing":bool}: pushed to the rest of the room
 *   rooms        replies the room list
 *   ping         {"t":n}: replies "pong" (the demo's config answers ping with a MOCK instead)
 *   $default     dispatches on the body's action; unknown actions get an "error" reply
 */
int chat_handle(chat_state_t *st, const chat_event_t *ev, int64_t now_ms, chat_reply_t *reply);

/*
 * Push scheduling. Members with queued payloads and no push in flight wait in a FIFO; the
 * pusher takes the next one (up to its own in-flight bound), so a slow member holds only its
 * own queue. chat_push_next returns false when no member is waiting; otherwise it copies the
 * connection id and hands over a reference to the payload (the caller unrefs it). When more
 * than one payload waits for the member, the payload is a JSON array of them, oldest first
 * (at most CHAT_BATCH_MAX, CHAT_BATCH_BYTES): clients accept an object or an array of them.
 */
bool chat_push_next(chat_state_t *st, char cid[CHAT_CID_LEN + 1], chat_payload_t **payload);

typedef enum chat_push_outcome {
    CHAT_PUSH_OK,        /* 200 */
    CHAT_PUSH_GONE,      /* 410 GoneException: the connection no longer exists */
    CHAT_PUSH_THROTTLED, /* 429: the client's queue at Portico is full; the message is lost */
    CHAT_PUSH_FAILED,    /* anything else (403, 5xx, timeout, refused): the message is lost */
} chat_push_outcome_t;

/* Reports the end of the push chat_push_next started for cid. GONE removes the member and
 * tells its room ("left", reason "gone"). Unknown cids (already removed) are ignored. */
void chat_push_done(chat_state_t *st, const char *cid, chat_push_outcome_t outcome, int64_t now_ms);

/* Forgets closed connection ids older than CHAT_TOMB_MS, and connections that never joined
 * and said nothing for CHAT_DETACHED_MS; call now and then. */
void chat_state_expire(chat_state_t *st, int64_t now_ms);

/* Appends {"type":"rooms","rooms":[{"name","members","messages"}...]} (used by the reply). */
void chat_rooms_json(const chat_state_t *st, buf_t *out);

/* ---- string map (map.c) ----------------------------------------------------------------- */

/* A chained hash map from C strings to pointers; keys are not copied (the value owns them). */
typedef struct chat_map_node {
    struct chat_map_node *next;
    const char *key;
    void *val;
} chat_map_node_t;

typedef struct chat_map {
    chat_map_node_t **b;
    size_t nb;
    size_t n;
} chat_map_t;

void chat_map_init(chat_map_t *m);
void chat_map_dispose(chat_map_t *m); /* frees the nodes, not the values */
/* Adds key -> val; PT_EEXISTS when the key is there. */
int chat_map_put(chat_map_t *m, const char *key, void *val);
void *chat_map_get(const chat_map_t *m, const char *key);
/* Removes key; returns its value or NULL. */
void *chat_map_del(chat_map_t *m, const char *key);
/* Iteration: *pos starts at 0; returns the next value or NULL when done. Do not modify the map
 * while iterating. */
void *chat_map_next(const chat_map_t *m, size_t *pos, chat_map_node_t **node);

#endif
