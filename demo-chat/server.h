/* server.h: demo-chat's I/O pieces: loop sources, logging, the pusher and the web files. */
#ifndef PORTICO_DEMO_SERVER_H
#define PORTICO_DEMO_SERVER_H

#include "demo-chat/chat.h"

#include <stdint.h>

/*
 * One thread, one epoll instance. Everything registered with it starts with a chat_src_t, so
 * an event tells what it is for. A source that goes away during a batch of events is marked
 * (fd -1) and freed only after the batch, so a later event of the same batch never touches
 * freed memory.
 */
enum {
    CHAT_SRC_LISTEN = 1,
    CHAT_SRC_HTTP,
    CHAT_SRC_SIGNAL,
    CHAT_SRC_CURL,
};

typedef struct chat_src {
    int kind;
    int fd; /* -1 once closed */
} chat_src_t;

enum { CHAT_LOG_ERROR, CHAT_LOG_WARN, CHAT_LOG_INFO, CHAT_LOG_DEBUG };
extern int chat_log_level;
/* One line to stderr: "chat-backend: LEVEL: message". */
void chat_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- pusher (pusher.c): POST @connections with SigV4 over libcurl multi ------------------ */

typedef struct chat_pusher chat_pusher_t;

typedef struct chat_pusher_opts {
    const char *endpoint;      /* "http://HOST:PORT/STAGE", as an AWS SDK's endpoint; or NULL */
    const char *port_file;     /* or Portico's --port-file, read again whenever it changes */
    const char *host;          /* with port_file: the host to call, "127.0.0.1" */
    const char *stage;         /* with port_file: the stage, "dev" */
    const char *access_key_id; /* SigV4 credentials, as AWS_ACCESS_KEY_ID etc. */
    const char *secret_access_key;
    const char *session_token; /* NULL for none */
    const char *region;
    int max_inflight; /* pushes in flight at once, over all members */
    int timeout_ms;   /* one push's whole budget */
} chat_pusher_opts_t;

/* PT_OK, PT_EINVAL (message in err: a bad endpoint), PT_EIO (libcurl could not start). */
int chat_pusher_create(int epfd, chat_state_t *st, const chat_pusher_opts_t *o, chat_pusher_t **out,
                       char *err, size_t err_cap);
void chat_pusher_destroy(chat_pusher_t *p);
/* Starts queued pushes while fewer than max_inflight are running. */
void chat_pusher_kick(chat_pusher_t *p);
/* A libcurl socket became ready. */
void chat_pusher_io(chat_pusher_t *p, chat_src_t *src, uint32_t events);
/* Milliseconds until libcurl wants chat_pusher_tick, -1 when it wants nothing. */
int chat_pusher_wait_ms(const chat_pusher_t *p);
void chat_pusher_tick(chat_pusher_t *p);
/* Frees sources closed during the last batch of events. */
void chat_pusher_reap(chat_pusher_t *p);
int chat_pusher_inflight(const chat_pusher_t *p);
/* Portico's port as last known (0 when unknown) and its stage: for the page's config. */
int chat_pusher_port(chat_pusher_t *p);
const char *chat_pusher_stage(const chat_pusher_t *p);

/* ---- web files (web.c) ------------------------------------------------------------------ */

typedef struct chat_web_file {
    char name[64];
    const char *type;
    char *data;
    size_t len;
} chat_web_file_t;

typedef struct chat_web {
    chat_web_file_t *files;
    size_t n;
} chat_web_t;

/* Loads every regular file of dir whose name is [a-z0-9._-] (up to 64, 1 MB each).
 * PT_OK, PT_EIO (message in err). */
int chat_web_load(chat_web_t *w, const char *dir, char *err, size_t err_cap);
void chat_web_dispose(chat_web_t *w);
/* The file for a request path ("/" is index.html), or NULL. */
const chat_web_file_t *chat_web_find(const chat_web_t *w, const char *path, size_t len);

#endif
