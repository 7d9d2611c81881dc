/* inbox.c: a locked multi-producer queue with an eventfd wake-up written only to a sleeper. */
#include "common/inbox.h"
#include "common/err.h"

#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int inbox_init(inbox_t *ib)
{
    pthread_mutex_init(&ib->mu, NULL);
    ib->head = ib->tail = NULL;
    ib->closed = false;
    atomic_init(&ib->nonempty, false);
    atomic_init(&ib->sleeping, false);
    atomic_init(&ib->signalled, false);
    ib->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return ib->efd < 0 ? PT_EIO : PT_OK;
}

void inbox_dispose(inbox_t *ib, void (*free_fn)(inbox_msg_t *m))
{
    inbox_msg_t *m = inbox_take(ib);
    while (m) {
        inbox_msg_t *next = m->next;
        if (free_fn)
            free_fn(m);
        m = next;
    }
    if (ib->efd >= 0)
        close(ib->efd);
    ib->efd = -1;
    pthread_mutex_destroy(&ib->mu);
}

int inbox_fd(const inbox_t *ib)
{
    return ib->efd;
}

bool inbox_push(inbox_t *ib, inbox_msg_t *m)
{
    m->next = NULL;
    pthread_mutex_lock(&ib->mu);
    if (ib->closed) {
        pthread_mutex_unlock(&ib->mu);
        return false;
    }
    if (ib->head == NULL)
        ib->head = m;
    else
        ib->tail->next = m;
    ib->tail = m;
    pthread_mutex_unlock(&ib->mu);
    /* Store nonempty, then load sleeping (both seq_cst): pairs with inbox_sleep. */
    atomic_store(&ib->nonempty, true);
    if (atomic_load(&ib->sleeping) && !atomic_exchange(&ib->signalled, true)) {
        uint64_t one = 1;
        ssize_t w = write(ib->efd, &one, sizeof one);
        (void)w; /* EAGAIN: the counter is already non-zero, the owner wakes anyway */
    }
    return true;
}

inbox_msg_t *inbox_take(inbox_t *ib)
{
    if (!atomic_load(&ib->nonempty))
        return NULL;
    pthread_mutex_lock(&ib->mu);
    /* Cleared under the lock before taking: a push after the unlock sets it again. */
    atomic_store(&ib->nonempty, false);
    inbox_msg_t *m = ib->head;
    ib->head = ib->tail = NULL;
    pthread_mutex_unlock(&ib->mu);
    return m;
}

bool inbox_sleep(inbox_t *ib)
{
    /* Store sleeping, then load nonempty (both seq_cst): pairs with inbox_push. */
    atomic_store(&ib->sleeping, true);
    if (atomic_load(&ib->nonempty)) {
        atomic_store(&ib->sleeping, false);
        return false;
    }
    return true;
}

void inbox_awake(inbox_t *ib)
{
    atomic_store(&ib->sleeping, false);
}

void inbox_clear_fd(inbox_t *ib)
{
    uint64_t v;
    /* Read first, then allow the next signal: a producer in between sees `signalled` still
     * set and skips its write, and its message is seen by the owner's next inbox_sleep. */
    ssize_t r = read(ib->efd, &v, sizeof v);
    (void)r;
    atomic_store(&ib->signalled, false);
}

void inbox_close(inbox_t *ib)
{
    pthread_mutex_lock(&ib->mu);
    ib->closed = true;
    pthread_mutex_unlock(&ib->mu);
}
