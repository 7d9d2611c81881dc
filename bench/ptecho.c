/* ptecho.c: a small keep-alive HTTP/1.1 backend: echoes bodies (S4) or answers Pushpin's GRIP. */
#include "common/err.h"
#include "common/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * --mode echo: every request gets 200 with its own body (Content-Type application/json), which
 * is what an HTTP_PROXY route answering "$default" needs to send a message back to its client.
 * --mode grip: the WebSocket-over-HTTP backend Pushpin needs: an OPEN event is answered with
 * OPEN and a GRIP control message subscribing the connection to the channel named by the last
 * path segment ("/sub/p0c12" -> "p0c12"); other events get an empty 200.
 *
 * --threads N epoll loops share the port through SO_REUSEPORT. The chosen port is printed as
 * "PORT n" on stdout. Runs until killed or --deadline seconds.
 */

enum { MODE_ECHO, MODE_GRIP };

static int g_mode = MODE_ECHO;
static int g_port;
static int g_threads = 1;
static int g_deadline = 3600;

#define MAX_REQ (1 << 20)

typedef struct econn {
    int fd;
    char *in;
    size_t inlen, incap;
    char *out;
    size_t outlen, outoff;
} econn_t;

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void econn_free(int ep, econn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void out_append(econn_t *c, const void *p, size_t n)
{
    char *b = realloc(c->out, c->outlen + n);
    if (!b)
        abort();
    memcpy(b + c->outlen, p, n);
    c->out = b;
    c->outlen += n;
}

/* Builds the answer to one request into c->out. */
static void answer(econn_t *c, const http_request_t *r, const char *body, size_t blen)
{
    char head[256];
    int hl;
    if (g_mode == MODE_GRIP) {
        char events[512];
        int el = 0;
        if (blen >= 6 && memcmp(body, "OPEN\r\n", 6) == 0) {
            const char *seg = r->path;
            size_t sl = r->path_len;
            const char *slash = memrchr(r->path, '/', r->path_len);
            if (slash) {
                seg = slash + 1;
                sl = r->path_len - (size_t)(seg - r->path);
            }
            if (sl > 200)
                sl = 200;
            char ctl[300];
            int cl = snprintf(ctl, sizeof ctl, "c:{\"type\":\"subscribe\",\"channel\":\"%.*s\"}",
                              (int)sl, seg);
            el = snprintf(events, sizeof events, "OPEN\r\nTEXT %x\r\n%s\r\n", cl, ctl);
        }
        hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/websocket-events\r\n"
                      "Sec-WebSocket-Extensions: grip\r\nContent-Length: %d\r\n\r\n",
                      el);
        out_append(c, head, (size_t)hl);
        out_append(c, events, (size_t)el);
        return;
    }
    hl = snprintf(
        head, sizeof head,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", blen);
    out_append(c, head, (size_t)hl);
    out_append(c, body, blen);
}

/* Answers every complete request in c->in; returns PT_OK or an error (close the connection). */
static int process(econn_t *c, http_request_t *r)
{
    size_t used = 0;
    while (used < c->inlen) {
        int rc = http_parse_request(c->in + used, c->inlen - used, r);
        if (rc == PT_EAGAIN)
            break;
        if (rc != PT_OK)
            return rc;
        uint64_t clen = 0;
        const http_header_t *h = http_find_header(r, "content-length");
        if (h && http_parse_u64(h->value, h->value_len, &clen) != PT_OK)
            return PT_EPARSE;
        if (clen > MAX_REQ)
            return PT_ETOOBIG;
        if (c->inlen - used < r->head_len + clen)
            break;
        answer(c, r, c->in + used + r->head_len, (size_t)clen);
        used += r->head_len + (size_t)clen;
    }
    if (used) {
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
    }
    return PT_OK;
}

static int flush_out(int ep, econn_t *c)
{
    while (c->outoff < c->outlen) {
        ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                return PT_OK;
            }
            return PT_EIO;
        }
        c->outoff += (size_t)w;
    }
    if (c->outlen) {
        c->outlen = c->outoff = 0;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
    }
    return PT_OK;
}

static void *loop(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return NULL;
    http_request_t *req = malloc(sizeof *req);
    if (!req)
        abort();
    static int ltag;
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = &ltag};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &ltag) {
                for (int k = 0; k < 64; k++) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    econn_t *c = calloc(1, sizeof *c);
                    if (!c)
                        abort();
                    c->fd = fd;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            econn_t *c = evs[i].data.ptr;
            if ((evs[i].events & EPOLLOUT) && flush_out(ep, c) != PT_OK) {
                econn_free(ep, c);
                continue;
            }
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            if (c->incap - c->inlen < 16384) {
                size_t cap = c->incap ? c->incap * 2 : 32768;
                if (cap > MAX_REQ * 2 + 65536) {
                    econn_free(ep, c);
                    continue;
                }
                char *b = realloc(c->in, cap);
                if (!b)
                    abort();
                c->in = b;
                c->incap = cap;
            }
            ssize_t r = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                econn_free(ep, c);
                continue;
            }
            if (r < 0)
                continue;
            c->inlen += (size_t)r;
            if (process(c, req) != PT_OK || flush_out(ep, c) != PT_OK) {
                econn_free(ep, c);
                continue;
            }
            if (c->inlen == 0 && c->incap > 65536) {
                free(c->in);
                c->in = NULL;
                c->incap = 0;
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"port", required_argument, NULL, 'p'},
        {"mode", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'},
        {"deadline", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 'p':
            g_port = atoi(optarg);
            break;
        case 'm':
            g_mode = strcmp(optarg, "grip") == 0 ? MODE_GRIP : MODE_ECHO;
            break;
        case 't':
            g_threads = atoi(optarg);
            break;
        case 'd':
            g_deadline = atoi(optarg);
            break;
        default:
            fputs("usage: ptecho [--port P] [--mode echo|grip] [--threads N] [--deadline S]\n",
                  stderr);
            return 2;
        }
    }
    if (g_threads < 1 || g_threads > 16)
        g_threads = 1;
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)g_deadline);
    int fds[16];
    fds[0] = listen_on(g_port);
    if (fds[0] < 0) {
        perror("ptecho: listen");
        return 1;
    }
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getsockname(fds[0], (struct sockaddr *)&a, &al);
    int port = ntohs(a.sin_port);
    for (int i = 1; i < g_threads; i++) {
        fds[i] = listen_on(port);
        if (fds[i] < 0) {
            perror("ptecho: listen");
            return 1;
        }
    }
    printf("PORT %d\n", port);
    fflush(stdout);
    pthread_t th[16];
    for (int i = 1; i < g_threads; i++)
        pthread_create(&th[i], NULL, loop, (void *)(intptr_t)fds[i]);
    loop((void *)(intptr_t)fds[0]);
    return 0;
}
