/* inbox.h: a locked multi-producer queue with an eventfd wake-up, one per worker. */
#ifndef PORTICO_COMMON_INBOX_H
#define PORTICO_COMMON_INBOX_H

#include <pthread.h>
#include <stdbool.h>

/*
 * Every cross-thread hand-off (a push from another worker, an integration result) is a message
 * in the owning thread's inbox. Producers lock, append, and write the eventfd only when the
 * queue goes from empty to non-empty; the owner polls inbox_fd() and takes the whole list at
 * once, so a burst costs one wake-up. Taking an empty inbox is cheap (spurious wake-ups are
 * fine).
 *
 * Embed inbox_msg_t as the first member of each message type.
 */
typedef struct inbox_msg {
    struct inbox_msg *next;
    int type;
} inbox_msg_t;

typedef struct inbox {
    pthread_mutex_t mu;
    inbox_msg_t *head;
    inbox_msg_t *tail;
    int efd;
    bool closed;
} inbox_t;

/* Returns PT_OK or PT_EIO (eventfd failed). */
int inbox_init(inbox_t *ib);
/* Frees messages still queued with free_fn (may be NULL), closes the eventfd. */
void inbox_dispose(inbox_t *ib, void (*free_fn)(inbox_msg_t *m));
int inbox_fd(const inbox_t *ib);
/* Thread-safe. Returns false (message not queued, caller keeps it) once the inbox is closed. */
bool inbox_push(inbox_t *ib, inbox_msg_t *m);
/* Owner only: takes every queued message, oldest first (a NULL-terminated list). */
inbox_msg_t *inbox_take(inbox_t *ib);
/* Refuses further pushes. */
void inbox_close(inbox_t *ib);

#endif
