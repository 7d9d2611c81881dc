/* inbox.h: a locked multi-producer queue with an eventfd wake-up, one per worker. */
#ifndef PORTICO_COMMON_INBOX_H
#define PORTICO_COMMON_INBOX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/*
 * Every cross-thread hand-off (a push from another worker, an integration result) is a message
 * in the owning thread's inbox. Producers lock and append; the owner takes the whole list at
 * once (inbox_take), on every loop turn.
 *
 * Wake-ups cost syscalls (an eventfd write by the producer, a read by the owner, ~3 us here), so
 * a producer writes the eventfd only when the owner is about to sleep: the owner calls
 * inbox_sleep() just before epoll_wait, which announces it (seq_cst `sleeping`) and then checks
 * `nonempty`; a producer sets `nonempty` (seq_cst) and then checks `sleeping`. Of the two
 * orders, at least one side sees the other's store: either the producer writes the eventfd, or
 * the owner does not sleep. A busy owner therefore takes hand-offs with no syscall at all.
 *
 * Owner loop:
 *     timeout = inbox_sleep(ib) ? timeout : 0;   // false: messages waiting, do not block
 *     epoll_wait(..., timeout);
 *     inbox_awake(ib);
 *     ... on inbox_fd() readiness: inbox_clear_fd(ib)
 *     for (m = inbox_take(ib); m; ...) ...         // every turn
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
    atomic_bool nonempty;  /* messages queued (set by producers, cleared by inbox_take) */
    atomic_bool sleeping;  /* the owner is in (or entering) its wait */
    atomic_bool signalled; /* the eventfd was written and not yet cleared */
} inbox_t;

/* Returns PT_OK or PT_EIO (eventfd failed). */
int inbox_init(inbox_t *ib);
/* Frees messages still queued with free_fn (may be NULL), closes the eventfd. */
void inbox_dispose(inbox_t *ib, void (*free_fn)(inbox_msg_t *m));
/* Readable when a producer woke a sleeping owner. */
int inbox_fd(const inbox_t *ib);
/* Thread-safe. Returns false (message not queued, caller keeps it) once the inbox is closed. */
bool inbox_push(inbox_t *ib, inbox_msg_t *m);
/* Owner only: takes every queued message, oldest first (a NULL-terminated list); NULL when
 * empty, without taking the lock. */
inbox_msg_t *inbox_take(inbox_t *ib);
/* Owner only, before blocking: announces the sleep; returns false (and cancels it) when
 * messages are already waiting, so the owner must not block. */
bool inbox_sleep(inbox_t *ib);
/* Owner only, after the wait returned. */
void inbox_awake(inbox_t *ib);
/* Owner only, when inbox_fd() was readable: resets the eventfd so producers may signal again. */
void inbox_clear_fd(inbox_t *ib);
/* Refuses further pushes. */
void inbox_close(inbox_t *ib);

#endif
