/* inbox.c: a locked multi-producer queue with an eventfd wake-up. */
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
    bool was_empty = ib->head == NULL;
    if (was_empty)
        ib->head = m;
    else
        ib->tail->next = m;
    ib->tail = m;
    pthread_mutex_unlock(&ib->mu);
    if (was_empty) {
        uint64_t one = 1;
        /* EAGAIN means the counter is already non-zero: the owner will wake anyway. */
        ssize_t w = write(ib->efd, &one, sizeof one);
        (void)w;
    }
    return true;
}

inbox_msg_t *inbox_take(inbox_t *ib)
{
    uint64_t v;
    /* Reset the counter before taking, so a push racing with us re-arms it. */
    ssize_t r = read(ib->efd, &v, sizeof v);
    (void)r;
    pthread_mutex_lock(&ib->mu);
    inbox_msg_t *m = ib->head;
    ib->head = ib->tail = NULL;
    pthread_mutex_unlock(&ib->mu);
    return m;
}

void inbox_close(inbox_t *ib)
{
    pthread_mutex_lock(&ib->mu);
    ib->closed = true;
    pthread_mutex_unlock(&ib->mu);
}
