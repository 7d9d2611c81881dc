/* ptload.c: load generator: WebSocket clients and keep-alive (SigV4) publishers on one epoll. */
#include "bench/hist.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/sigv4.h"
#include "common/ws.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * One process, one thread, one epoll loop. It opens --clients WebSocket connections (at most
 * --conc handshakes at a time, spread over --src-ips loopback source addresses so a run never
 * runs out of ephemeral ports), learns each connection's id, opens --publishers keep-alive HTTP
 * connections, prints "READY {json}" and waits on stdin:
 *
 *   go T0   run the workload from CLOCK_MONOTONIC time T0 (ns; 0 = now), then print
 *           "DONE {json}"
 *   quit    (or EOF) close everything and exit
 *
 * Workloads: pushes (each publisher keeps one request in flight; --rate paces them open-loop
 * from T0, so latency counts from the scheduled time and a slow server cannot hide behind a
 * slow generator), fan-out rounds (--period-ms: every period, one push to every client), or
 * routed messages (--msg: every client keeps one message in flight and waits for the reply).
 * Each push carries "t=<ns>" at the start of its payload; the receiving client subtracts it
 * from its clock (CLOCK_MONOTONIC is one clock for every process of the machine).
 *
 * The driver is bench/bench.py; it splits big runs over several processes because the machine
 * caps every process at 20,000 open files.
 */

/* ---- options --------------------------------------------------------------------------- */

enum { ID_NONE, ID_WHOAMI, ID_PATH };
enum { PUB_NONE, PUB_SIGV4, PUB_NCHAN, PUB_PUSHPIN };

static struct {
    const char *host;
    int port;
    int pub_port;
    const char *ws_path;  /* may hold "{id}" */
    const char *pub_path; /* may hold "{id}" */
    int clients;
    int conc;
    int src_ips;
    int src_base;
    int id_mode;
    int proc;
    int pub_mode;
    int publishers;
    long pushes;
    double rate;
    int payload;
    int period_ms;
    long rounds;
    int slow;
    bool slow_reads; /* control runs: the "slow" clients read like everyone else */
    double slow_share;
    int slow_rcvbuf;
    int slow_mss;
    const char *msg;
    long messages;
    double drain_s;
    int deadline_s;
    const char *ak;
    const char *sk;
    const char *region;
} opt = {
    .host = "127.0.0.1",
    .ws_path = "/dev",
    .pub_path = "/dev/@connections/{id}",
    .conc = 256,
    .src_ips = 8,
    .src_base = 2,
    .id_mode = ID_WHOAMI,
    .payload = 100,
    .drain_s = 10,
    .deadline_s = 600,
    .region = "us-east-1",
};

/* ---- connections ----------------------------------------------------------------------- */

enum {
    C_IDLE = 0,   /* not started */
    C_CONNECTING, /* TCP connect in progress */
    C_HANDSHAKE,  /* upgrade sent, waiting for the 101 */
    C_WHOAMI,     /* waiting for the frame that carries the id */
    C_OPEN,
    C_DEAD,
};

enum { K_CLIENT = 1, K_PUB };

typedef struct conn {
    int fd;
    uint8_t kind;
    uint8_t state;
    bool slow;
    bool reading; /* EPOLLIN armed */
    bool want_out;
    bool busy;    /* publisher: a request is out; client: a message is out (msg mode) */
    bool in_frag; /* client: inside a fragmented message */
    int idx;
    char id[64];
    int64_t t_start; /* handshake / request / message start, ns */
    int64_t frag_t;  /* timestamps read from the first fragment: scheduled and sent */
    int64_t frag_s;
    long push_k; /* publisher: index of the push in flight */
    int target;  /* publisher: client the push in flight goes to */
    /* unparsed input */
    char *in;
    uint32_t inlen, incap;
    /* unwritten output */
    char *out;
    uint32_t outlen, outoff;
} conn_t;

enum { PH_CONNECT, PH_PUBCONNECT, PH_READY, PH_RUN, PH_DRAIN, PH_DONE };

static struct {
    int ep;
    int phase;
    conn_t *cl;  /* clients */
    conn_t *pub; /* publishers */
    int next_client;
    int inflight;
    int open, failed, closed_in_run;
    int pubs_up, pubs_failed;
    int64_t t_begin, t_ready, t0, t_end_sent, t_last_event, t_drain_start;
    /* push workload */
    long next_k;
    long ok, ok_fast, ok_slow, recv_fast, recv_slow, s410, s429, sother, neterr, skipped, stray;
    int *fast;
    int nfast;
    int *slow;
    int nslow;
    long fast_rr, slow_rr;
    /* message workload */
    long msg_sent, msg_replies, msg_errors;
    bool go_pending;
    int64_t go_t0;
    hist_t hs, lat_fast, lat_slow, resp, rtt;
    hist_t lat_sent; /* fast clients, from the time the push was actually written */
    char *scratch;
    size_t scratch_cap;
    sigv4_cache_t cache;
    char hostport[64];
    char pub_hostport[64];
    struct sockaddr_in dst, pub_dst;
} ld;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "ptload: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void set_events(conn_t *c)
{
    uint32_t ev = 0;
    if (c->reading)
        ev |= EPOLLIN;
    if (c->want_out)
        ev |= EPOLLOUT;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ld.ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void conn_reset_buffers(conn_t *c)
{
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->inlen = c->incap = c->outlen = c->outoff = 0;
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ld.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    conn_reset_buffers(c);
    c->want_out = false;
}

/* Non-blocking connect from 127.0.0.(src_base + n % src_ips). */
static int conn_start(conn_t *c, const struct sockaddr_in *dst, int n, int rcvbuf, int mss)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return PT_EIO;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    /* Loopback's 64 KB MSS makes the server's send buffer start at about 1.3 MB (ten
     * segments, doubled); an Ethernet-sized MSS gives the ~60 KB a real client would see. */
    if (mss > 0)
        setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
    if (opt.src_ips > 0) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)(opt.src_base + n % opt.src_ips));
        if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
            close(fd);
            return PT_EIO;
        }
    }
    if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) != 0 && errno != EINPROGRESS) {
        close(fd);
        return PT_EIO;
    }
    c->fd = fd;
    c->state = C_CONNECTING;
    c->reading = false;
    c->want_out = true;
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ld.ep, EPOLL_CTL_ADD, fd, &e) != 0) {
        close(fd);
        c->fd = -1;
        return PT_EIO;
    }
    return PT_OK;
}

/* Writes now what the socket takes; keeps the rest for EPOLLOUT. Returns PT_OK or PT_EIO. */
static int conn_write(conn_t *c, const void *p, size_t n)
{
    if (c->fd < 0)
        return PT_EIO;
    if (c->outlen > c->outoff) {
        size_t have = c->outlen - c->outoff;
        char *b = malloc(have + n);
        if (!b)
            abort();
        memcpy(b, c->out + c->outoff, have);
        memcpy(b + have, p, n);
        free(c->out);
        c->out = b;
        c->outoff = 0;
        c->outlen = (uint32_t)(have + n);
        return PT_OK;
    }
    ssize_t w = write(c->fd, p, n);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return PT_EIO;
        w = 0;
    }
    if ((size_t)w < n) {
        free(c->out);
        c->out = malloc(n - (size_t)w);
        if (!c->out)
            abort();
        memcpy(c->out, (const char *)p + w, n - (size_t)w);
        c->outoff = 0;
        c->outlen = (uint32_t)(n - (size_t)w);
        c->want_out = true;
        set_events(c);
    }
    return PT_OK;
}

static int conn_flush(conn_t *c)
{
    while (c->outoff < c->outlen) {
        ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return PT_OK;
            return PT_EIO;
        }
        c->outoff += (uint32_t)w;
    }
    free(c->out);
    c->out = NULL;
    c->outlen = c->outoff = 0;
    c->want_out = false;
    set_events(c);
    return PT_OK;
}

/* ---- paths and ids --------------------------------------------------------------------- */

/* Copies tmpl into out with "{id}" replaced by id; '=' in the id becomes %3D when enc. */
static void expand(buf_t *out, const char *tmpl, const char *id, bool enc)
{
    const char *at = strstr(tmpl, "{id}");
    if (!at) {
        buf_puts(out, tmpl);
        return;
    }
    buf_append(out, tmpl, (size_t)(at - tmpl));
    for (const char *p = id; *p; p++) {
        if (enc && *p == '=')
            buf_puts(out, "%3D");
        else
            buf_putc(out, *p);
    }
    buf_puts(out, at + 4);
}

/* ---- clients: WebSocket ---------------------------------------------------------------- */

/* Sends one masked frame; returns PT_OK or PT_EIO (the caller drops the client). */
static int client_send_frame(conn_t *c, uint8_t opcode, const void *p, size_t n)
{
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        hdr[h++] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(n >> 8);
        hdr[h++] = (uint8_t)n;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint8_t mask[4] = {0x12, 0x34, 0x56, (uint8_t)c->idx};
    memcpy(hdr + h, mask, 4);
    h += 4;
    char stackbuf[512];
    char *b = h + n <= sizeof stackbuf ? stackbuf : malloc(h + n);
    if (!b)
        abort();
    memcpy(b, hdr, h);
    memcpy(b + h, p, n);
    ws_unmask((uint8_t *)b + h, n, mask, 0);
    int rc = conn_write(c, b, h + n);
    if (b != stackbuf)
        free(b);
    return rc;
}

static void client_failed(conn_t *c)
{
    bool was_open = c->state == C_OPEN;
    bool in_handshake = c->state >= C_CONNECTING && c->state <= C_WHOAMI;
    conn_close(c);
    c->state = C_DEAD;
    if (in_handshake) {
        ld.inflight--;
        ld.failed++;
    } else if (was_open) {
        ld.open--;
        if (ld.phase >= PH_RUN)
            ld.closed_in_run++;
        else
            ld.failed++;
    }
}

static void client_ready(conn_t *c)
{
    c->state = C_OPEN;
    ld.inflight--;
    ld.open++;
    hist_add_ns(&ld.hs, c->t_start, now_ns());
}

static void msg_send(conn_t *c)
{
    if (ld.msg_sent >= opt.messages || c->state != C_OPEN)
        return;
    ld.msg_sent++;
    c->busy = true;
    c->t_start = now_ns();
    if (client_send_frame(c, WS_OP_TEXT, opt.msg, strlen(opt.msg)) != PT_OK) {
        ld.msg_errors++;
        c->busy = false;
        client_failed(c);
    }
}

/* Reads "t=<sched> s=<sent> " at the start of a payload; returns sched or -1. */
static int64_t parse_t(const char *p, size_t n, int64_t *sent)
{
    *sent = -1;
    if (n < 3 || p[0] != 't' || p[1] != '=')
        return -1;
    int64_t v = 0;
    size_t i = 2;
    for (; i < n && isdigit((unsigned char)p[i]); i++)
        v = v * 10 + (p[i] - '0');
    if (i + 3 < n && p[i] == ' ' && p[i + 1] == 's' && p[i + 2] == '=') {
        int64_t w = 0;
        for (i += 3; i < n && isdigit((unsigned char)p[i]); i++)
            w = w * 10 + (p[i] - '0');
        *sent = w;
    }
    return v;
}

/* A complete data message (or the first fragment's timestamp) arrived. */
static void client_message(conn_t *c, const char *p, size_t n, int64_t t, int64_t sent)
{
    int64_t now = now_ns();
    ld.t_last_event = now;
    if (c->state == C_WHOAMI) {
        const char *k = memmem(p, n, "\"connectionId\":\"", 16);
        if (!k) {
            client_failed(c);
            return;
        }
        k += 16;
        const char *e = memchr(k, '"', n - (size_t)(k - p));
        if (!e || (size_t)(e - k) >= sizeof c->id) {
            client_failed(c);
            return;
        }
        memcpy(c->id, k, (size_t)(e - k));
        c->id[e - k] = '\0';
        client_ready(c);
        return;
    }
    if (opt.msg) {
        if (c->busy) {
            hist_add_ns(&ld.rtt, c->t_start, now);
            ld.msg_replies++;
            c->busy = false;
            if (ld.phase == PH_RUN)
                msg_send(c);
        }
        return;
    }
    if (t < 0) {
        ld.stray++; /* a frame we did not send */
        return;
    }
    if (c->slow) {
        ld.recv_slow++;
        hist_add_ns(&ld.lat_slow, t, now);
    } else {
        ld.recv_fast++;
        hist_add_ns(&ld.lat_fast, t, now);
        if (sent >= 0)
            hist_add_ns(&ld.lat_sent, sent, now);
    }
}

/* Parses frames from p[0..n); returns bytes consumed, or -1 when the connection must go. */
static long client_frames(conn_t *c, char *p, size_t n)
{
    size_t used = 0;
    while (used < n) {
        ws_frame_t f;
        int rc = ws_parse_header((uint8_t *)p + used, n - used, &f);
        if (rc == PT_EAGAIN)
            break;
        if (rc != PT_OK)
            return -1;
        if (n - used < f.header_len + f.payload_len)
            break;
        char *pl = p + used + f.header_len;
        size_t pn = (size_t)f.payload_len;
        if (f.masked)
            ws_unmask((uint8_t *)pl, pn, f.mask, 0);
        used += f.header_len + pn;
        switch (f.opcode) {
        case WS_OP_TEXT:
        case WS_OP_BINARY:
            c->frag_t = parse_t(pl, pn, &c->frag_s);
            if (f.fin)
                client_message(c, pl, pn, c->frag_t, c->frag_s);
            else
                c->in_frag = true;
            break;
        case WS_OP_CONT:
            if (f.fin && c->in_frag) {
                c->in_frag = false;
                client_message(c, pl, pn, c->frag_t, c->frag_s);
            }
            break;
        case WS_OP_PING:
            if (client_send_frame(c, WS_OP_PONG, pl, pn) != PT_OK)
                return -1;
            break;
        case WS_OP_CLOSE:
            client_send_frame(c, WS_OP_CLOSE, pl, pn < 2 ? pn : 2);
            return -1;
        default:
            break;
        }
        if (c->state == C_DEAD || c->fd < 0)
            return -1;
    }
    return (long)used;
}

static void client_handshake_sent(conn_t *c)
{
    buf_t b = BUF_INIT;
    char name[64];
    snprintf(name, sizeof name, "p%dc%d", opt.proc, c->idx);
    if (opt.id_mode == ID_PATH)
        snprintf(c->id, sizeof c->id, "%s", name);
    buf_puts(&b, "GET ");
    expand(&b, opt.ws_path, name, false);
    buf_printf(&b,
               " HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "User-Agent: ptload\r\n\r\n",
               ld.hostport);
    c->state = C_HANDSHAKE;
    c->reading = true;
    c->want_out = false;
    set_events(c);
    if (conn_write(c, b.p, b.len) != PT_OK)
        client_failed(c);
    buf_free(&b);
}

/* Handles input in p[0..n); returns bytes consumed or -1. */
static long client_input(conn_t *c, char *p, size_t n)
{
    size_t used = 0;
    if (c->state == C_HANDSHAKE) {
        char *e = memmem(p, n, "\r\n\r\n", 4);
        if (!e)
            return n > 16384 ? -1 : 0;
        if (n < 12 || memcmp(p + 9, "101", 3) != 0)
            return -1;
        used = (size_t)(e + 4 - p);
        if (opt.id_mode == ID_WHOAMI) {
            c->state = C_WHOAMI;
            if (client_send_frame(c, WS_OP_TEXT, "{\"action\":\"whoami\"}", 19) != PT_OK)
                return -1;
        } else {
            client_ready(c);
        }
    }
    long r = client_frames(c, p + used, n - used);
    return r < 0 ? -1 : (long)used + r;
}

/* ---- publishers: HTTP ------------------------------------------------------------------ */

static void pub_start(conn_t *c)
{
    c->inlen = 0;
    c->busy = false;
    if (conn_start(c, &ld.pub_dst, c->idx + 1, 0, 0) != PT_OK) {
        c->state = C_DEAD;
        ld.pubs_failed++;
    }
}

static int64_t sched_ns(long k)
{
    if (opt.period_ms > 0) {
        long per_round = ld.nfast + ld.nslow;
        return ld.t0 + (int64_t)(k / (per_round ? per_round : 1)) * opt.period_ms * 1000000LL;
    }
    if (opt.rate > 0)
        return ld.t0 + (int64_t)((double)k * 1e9 / opt.rate);
    return ld.t0;
}

/* The client push k goes to (-1 when there is none). */
static int target_of(long k, bool *slow)
{
    *slow = false;
    if (opt.period_ms > 0) {
        long per_round = ld.nfast + ld.nslow;
        long j = k % per_round;
        if (j < ld.nfast)
            return ld.fast[j];
        *slow = true;
        return ld.slow[j - ld.nfast];
    }
    if (ld.nslow > 0 && opt.slow_share > 0) {
        if ((long)((double)(k + 1) * opt.slow_share) != (long)((double)k * opt.slow_share)) {
            *slow = true;
            return ld.slow[ld.slow_rr++ % ld.nslow];
        }
        return ld.nfast ? ld.fast[ld.fast_rr++ % ld.nfast] : -1;
    }
    long all = ld.nfast + ld.nslow;
    if (!all)
        return -1;
    long j = k % all;
    if (j < ld.nfast)
        return ld.fast[j];
    *slow = true;
    return ld.slow[j - ld.nfast];
}

static void pub_send(conn_t *c, long k, int64_t now)
{
    bool slow;
    int t = target_of(k, &slow);
    if (t < 0 || ld.cl[t].state != C_OPEN) {
        ld.skipped++;
        return;
    }
    conn_t *dst = &ld.cl[t];
    int64_t stamp = (opt.rate > 0 || opt.period_ms > 0) ? sched_ns(k) : now;
    char body[65536];
    size_t bl = (size_t)opt.payload < sizeof body ? (size_t)opt.payload : sizeof body - 1;
    int hl =
        snprintf(body, sizeof body, "t=%lld s=%lld k=%ld ", (long long)stamp, (long long)now, k);
    if ((size_t)hl > bl)
        bl = (size_t)hl;
    memset(body + hl, 'x', bl - (size_t)hl);
    buf_t req = BUF_INIT;
    buf_t path = BUF_INIT;
    expand(&path, opt.pub_path, dst->id, true);
    buf_printf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\n", path.p, ld.pub_hostport);
    const char *payload = body;
    size_t payload_len = bl;
    buf_t json = BUF_INIT;
    if (opt.pub_mode == PUB_PUSHPIN) {
        buf_printf(&json,
                   "{\"items\":[{\"channel\":\"%s\",\"formats\":{\"ws-message\":{\"content\":\"",
                   dst->id);
        buf_append(&json, body, bl);
        buf_puts(&json, "\"}}}]}");
        payload = json.p;
        payload_len = json.len;
        buf_puts(&req, "Content-Type: application/json\r\n");
    }
    if (opt.pub_mode == PUB_SIGV4) {
        sigv4_sign_params_t sp = {
            .access_key_id = opt.ak,
            .secret_access_key = opt.sk,
            .region = opt.region,
            .service = "execute-api",
            .now = (int64_t)time(NULL),
            .method = "POST",
            .host = ld.pub_hostport,
            .target = path.p,
            .body = payload,
            .body_len = payload_len,
            .cache = &ld.cache,
        };
        if (sigv4_sign(&sp, &req) != PT_OK) {
            fprintf(stderr, "ptload: sigv4_sign failed\n");
            exit(1);
        }
    }
    buf_printf(&req, "Content-Length: %zu\r\n\r\n", payload_len);
    buf_append(&req, payload, payload_len);
    c->busy = true;
    c->push_k = k;
    c->target = t;
    c->slow = slow;
    c->t_start = now;
    if (conn_write(c, req.p, req.len) != PT_OK) {
        ld.neterr++;
        c->busy = false;
        conn_close(c);
        pub_start(c);
    }
    buf_free(&req);
    buf_free(&path);
    buf_free(&json);
}

/* Sends every push that is due on idle publishers; returns ns until the next one is due. */
static int64_t pump(void)
{
    if (ld.phase != PH_RUN || opt.msg)
        return -1;
    int64_t now = now_ns();
    for (int i = 0; i < opt.publishers && ld.next_k < opt.pushes; i++) {
        conn_t *c = &ld.pub[i];
        if (c->busy || c->state != C_OPEN)
            continue;
        if (sched_ns(ld.next_k) > now)
            break;
        pub_send(c, ld.next_k++, now);
    }
    if (ld.next_k < opt.pushes) {
        int64_t d = sched_ns(ld.next_k) - now;
        return d > 0 ? d : 0;
    }
    return -1;
}

/* Parses one response from p[0..n); returns bytes consumed (0: need more), -1 on error. */
static long pub_response(conn_t *c, char *p, size_t n)
{
    char *e = memmem(p, n, "\r\n\r\n", 4);
    if (!e)
        return n > 65536 ? -1 : 0;
    size_t head = (size_t)(e + 4 - p);
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0)
        return -1;
    int status = atoi(p + 9);
    long clen = -1;
    bool chunked = false, close_after = false;
    for (char *l = memchr(p, '\n', head); l && l < e; l = memchr(l + 1, '\n', (size_t)(e - l))) {
        char *s = l + 1;
        if (!strncasecmp(s, "content-length:", 15))
            clen = atol(s + 15);
        else if (!strncasecmp(s, "transfer-encoding:", 18) &&
                 memmem(s, (size_t)(e - s), "chunked", 7))
            chunked = true;
        else if (!strncasecmp(s, "connection:", 11) &&
                 !strncasecmp(s + 11 + strspn(s + 11, " "), "close", 5))
            close_after = true;
    }
    size_t total = head;
    if (chunked) {
        size_t pos = head;
        for (;;) {
            char *le = memmem(p + pos, n - pos, "\r\n", 2);
            if (!le)
                return 0;
            long sz = strtol(p + pos, NULL, 16);
            pos = (size_t)(le - p) + 2 + (size_t)sz + 2;
            if (pos > n)
                return 0;
            if (sz == 0)
                break;
        }
        total = pos;
    } else if (clen > 0) {
        if (n < head + (size_t)clen)
            return 0;
        total = head + (size_t)clen;
    }
    int64_t now = now_ns();
    ld.t_last_event = now;
    hist_add_ns(&ld.resp, c->t_start, now);
    c->busy = false;
    if (status >= 200 && status < 300) {
        ld.ok++;
        if (c->slow)
            ld.ok_slow++;
        else
            ld.ok_fast++;
    } else if (status == 410) {
        ld.s410++;
    } else if (status == 429) {
        ld.s429++;
    } else {
        ld.sother++;
        if (ld.sother <= 3)
            fprintf(stderr, "ptload: push answered %d: %.*s\n", status, (int)(n < 300 ? n : 300),
                    p);
    }
    if (close_after)
        return -2;
    return (long)total;
}

static long pub_input(conn_t *c, char *p, size_t n)
{
    size_t used = 0;
    while (used < n) {
        long r = pub_response(c, p + used, n - used);
        if (r == -2)
            return -2;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        used += (size_t)r;
    }
    return (long)used;
}

/* ---- the loop -------------------------------------------------------------------------- */

static void start_clients(void)
{
    while (ld.phase == PH_CONNECT && ld.inflight < opt.conc && ld.next_client < opt.clients) {
        conn_t *c = &ld.cl[ld.next_client++];
        c->t_start = now_ns();
        int rcv = c->slow ? opt.slow_rcvbuf : 0;
        int mss = c->slow ? opt.slow_mss : 0;
        if (conn_start(c, &ld.dst, c->idx, rcv, mss) != PT_OK) {
            c->state = C_DEAD;
            ld.failed++;
            continue;
        }
        ld.inflight++;
    }
}

static void on_connected(conn_t *c)
{
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        if (c->kind == K_CLIENT) {
            client_failed(c);
        } else {
            conn_close(c);
            c->state = C_DEAD;
            ld.pubs_failed++;
        }
        return;
    }
    if (c->kind == K_CLIENT) {
        client_handshake_sent(c);
    } else {
        c->state = C_OPEN;
        c->reading = true;
        c->want_out = false;
        set_events(c);
        if (ld.phase == PH_PUBCONNECT)
            ld.pubs_up++;
    }
}

static void on_readable(conn_t *c)
{
    for (int rounds = 0; rounds < 4; rounds++) {
        ssize_t r = read(c->fd, ld.scratch, ld.scratch_cap);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            if (c->kind == K_CLIENT) {
                client_failed(c);
            } else {
                if (c->busy)
                    ld.neterr++;
                conn_close(c);
                pub_start(c);
            }
            return;
        }
        if (r < 0)
            return;
        char *p = ld.scratch;
        size_t n = (size_t)r;
        if (c->inlen) {
            if (c->inlen + n > c->incap) {
                c->incap = (uint32_t)(c->inlen + n) * 2;
                c->in = realloc(c->in, c->incap);
                if (!c->in)
                    abort();
            }
            memcpy(c->in + c->inlen, p, n);
            c->inlen += (uint32_t)n;
            p = c->in;
            n = c->inlen;
        }
        long used = c->kind == K_CLIENT ? client_input(c, p, n) : pub_input(c, p, n);
        if (used < 0) {
            if (c->kind == K_CLIENT) {
                client_failed(c);
            } else {
                if (used == -1)
                    ld.neterr++;
                conn_close(c);
                pub_start(c);
            }
            return;
        }
        size_t rest = n - (size_t)used;
        if (rest == 0) {
            free(c->in);
            c->in = NULL;
            c->inlen = c->incap = 0;
        } else if (p == c->in) {
            memmove(c->in, c->in + used, rest);
            c->inlen = (uint32_t)rest;
        } else {
            c->in = malloc(rest * 2);
            if (!c->in)
                abort();
            c->incap = (uint32_t)rest * 2;
            memcpy(c->in, p + used, rest);
            c->inlen = (uint32_t)rest;
        }
        if ((size_t)r < ld.scratch_cap)
            return;
    }
}

static void print_ready(void)
{
    printf("READY {\"clients\":%d,\"open\":%d,\"failed\":%d,\"pubs\":%d,\"pubs_failed\":%d,"
           "\"connect_s\":%.6f,\"cpu_s\":%.3f,\"hs\":",
           opt.clients, ld.open, ld.failed, ld.pubs_up, ld.pubs_failed,
           (double)(ld.t_ready - ld.t_begin) / 1e9, cpu_self_s());
    hist_write_json(&ld.hs, stdout);
    printf("}\n");
    fflush(stdout);
}

static void print_done(void)
{
    int64_t end = ld.t_last_event > ld.t0 ? ld.t_last_event : now_ns();
    printf("DONE {\"sent\":%ld,\"ok\":%ld,\"ok_fast\":%ld,\"ok_slow\":%ld,\"recv_fast\":%ld,"
           "\"recv_slow\":%ld,\"s410\":%ld,\"s429\":%ld,\"sother\":%ld,\"neterr\":%ld,"
           "\"skipped\":%ld,\"stray\":%ld,\"closed\":%d,\"open\":%d,\"msg_sent\":%ld,"
           "\"msg_replies\":%ld,"
           "\"run_s\":%.6f,\"send_s\":%.6f,\"cpu_s\":%.3f,\"lat\":",
           ld.next_k, ld.ok, ld.ok_fast, ld.ok_slow, ld.recv_fast, ld.recv_slow, ld.s410, ld.s429,
           ld.sother, ld.neterr, ld.skipped, ld.stray, ld.closed_in_run, ld.open, ld.msg_sent,
           ld.msg_replies, (double)(end - ld.t0) / 1e9,
           (double)((ld.t_end_sent ? ld.t_end_sent : end) - ld.t0) / 1e9, cpu_self_s());
    hist_write_json(&ld.lat_fast, stdout);
    printf(",\"lat_sent\":");
    hist_write_json(&ld.lat_sent, stdout);
    printf(",\"lat_slow\":");
    hist_write_json(&ld.lat_slow, stdout);
    printf(",\"resp\":");
    hist_write_json(&ld.resp, stdout);
    printf(",\"rtt\":");
    hist_write_json(&ld.rtt, stdout);
    printf("}\n");
    fflush(stdout);
}

static void begin_run(int64_t t0)
{
    ld.nfast = ld.nslow = 0;
    for (int i = 0; i < opt.clients; i++) {
        conn_t *c = &ld.cl[i];
        if (c->state != C_OPEN)
            continue;
        if (c->slow)
            ld.slow[ld.nslow++] = i;
        else
            ld.fast[ld.nfast++] = i;
    }
    if (opt.period_ms > 0)
        opt.pushes = opt.rounds * (ld.nfast + ld.nslow);
    ld.t0 = t0 ? t0 : now_ns();
    ld.phase = PH_RUN;
    /* Slow consumers stop reading: what is pushed to them piles up in the server. */
    for (int i = 0; i < ld.nslow && !opt.slow_reads; i++) {
        conn_t *c = &ld.cl[ld.slow[i]];
        c->reading = false;
        set_events(c);
    }
    if (opt.msg) {
        for (int i = 0; i < opt.clients; i++)
            msg_send(&ld.cl[i]);
    }
}

static bool run_finished(void)
{
    if (opt.msg)
        return ld.msg_sent >= opt.messages && ld.msg_replies + ld.msg_errors >= ld.msg_sent;
    if (ld.next_k < opt.pushes)
        return false;
    for (int i = 0; i < opt.publishers; i++)
        if (ld.pub[i].busy && ld.pub[i].state == C_OPEN)
            return false;
    return true;
}

static bool drained(void)
{
    if (opt.msg)
        return ld.msg_replies >= ld.msg_sent;
    return ld.recv_fast >= ld.ok_fast && ld.recv_slow >= ld.ok_slow;
}

static void on_stdin(void)
{
    char line[256];
    ssize_t r = read(0, line, sizeof line - 1);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        exit(0); /* the driver went away */
    }
    line[r] = '\0';
    if (!strncmp(line, "quit", 4))
        exit(0);
    if (!strncmp(line, "go", 2)) {
        ld.go_pending = true; /* runs as soon as every connection is up */
        ld.go_t0 = (int64_t)atoll(line + 2);
    }
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "ptload: deadline reached\n";
    ssize_t w = write(2, m, sizeof m - 1);
    (void)w;
    _exit(3);
}

static void usage(void)
{
    fputs("usage: ptload --port P [--clients N] [--publishers N --pushes N [--rate R]]\n"
          "  see the comment at the top of bench/ptload.c and bench/README.md\n",
          stderr);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_PUBPORT,
        O_WSPATH,
        O_PUBPATH,
        O_CLIENTS,
        O_CONC,
        O_SRCIPS,
        O_SRCBASE,
        O_ID,
        O_PROC,
        O_PUB,
        O_PUBS,
        O_PUSHES,
        O_RATE,
        O_PAYLOAD,
        O_PERIOD,
        O_ROUNDS,
        O_SLOW,
        O_SLOWSHARE,
        O_SLOWRCV,
        O_SLOWMSS,
        O_SLOWREADS,
        O_MSG,
        O_MESSAGES,
        O_DRAIN,
        O_DEADLINE,
        O_AK,
        O_SK,
        O_REGION,
    };
    static const struct option lo[] = {
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"pub-port", required_argument, NULL, O_PUBPORT},
        {"ws-path", required_argument, NULL, O_WSPATH},
        {"pub-path", required_argument, NULL, O_PUBPATH},
        {"clients", required_argument, NULL, O_CLIENTS},
        {"conc", required_argument, NULL, O_CONC},
        {"src-ips", required_argument, NULL, O_SRCIPS},
        {"src-base", required_argument, NULL, O_SRCBASE},
        {"id", required_argument, NULL, O_ID},
        {"proc", required_argument, NULL, O_PROC},
        {"pub", required_argument, NULL, O_PUB},
        {"publishers", required_argument, NULL, O_PUBS},
        {"pushes", required_argument, NULL, O_PUSHES},
        {"rate", required_argument, NULL, O_RATE},
        {"payload", required_argument, NULL, O_PAYLOAD},
        {"period-ms", required_argument, NULL, O_PERIOD},
        {"rounds", required_argument, NULL, O_ROUNDS},
        {"slow", required_argument, NULL, O_SLOW},
        {"slow-share", required_argument, NULL, O_SLOWSHARE},
        {"slow-rcvbuf", required_argument, NULL, O_SLOWRCV},
        {"slow-reads", no_argument, NULL, O_SLOWREADS},
        {"slow-mss", required_argument, NULL, O_SLOWMSS},
        {"msg", required_argument, NULL, O_MSG},
        {"messages", required_argument, NULL, O_MESSAGES},
        {"drain-s", required_argument, NULL, O_DRAIN},
        {"deadline", required_argument, NULL, O_DEADLINE},
        {"ak", required_argument, NULL, O_AK},
        {"sk", required_argument, NULL, O_SK},
        {"region", required_argument, NULL, O_REGION},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case O_HOST:
            opt.host = optarg;
            break;
        case O_PORT:
            opt.port = atoi(optarg);
            break;
        case O_PUBPORT:
            opt.pub_port = atoi(optarg);
            break;
        case O_WSPATH:
            opt.ws_path = optarg;
            break;
        case O_PUBPATH:
            opt.pub_path = optarg;
            break;
        case O_CLIENTS:
            opt.clients = atoi(optarg);
            break;
        case O_CONC:
            opt.conc = atoi(optarg);
            break;
        case O_SRCIPS:
            opt.src_ips = atoi(optarg);
            break;
        case O_SRCBASE:
            opt.src_base = atoi(optarg);
            break;
        case O_ID:
            opt.id_mode = !strcmp(optarg, "whoami") ? ID_WHOAMI
                          : !strcmp(optarg, "path") ? ID_PATH
                                                    : ID_NONE;
            break;
        case O_PROC:
            opt.proc = atoi(optarg);
            break;
        case O_PUB:
            opt.pub_mode = !strcmp(optarg, "sigv4")     ? PUB_SIGV4
                           : !strcmp(optarg, "nchan")   ? PUB_NCHAN
                           : !strcmp(optarg, "pushpin") ? PUB_PUSHPIN
                                                        : PUB_NONE;
            break;
        case O_PUBS:
            opt.publishers = atoi(optarg);
            break;
        case O_PUSHES:
            opt.pushes = atol(optarg);
            break;
        case O_RATE:
            opt.rate = atof(optarg);
            break;
        case O_PAYLOAD:
            opt.payload = atoi(optarg);
            break;
        case O_PERIOD:
            opt.period_ms = atoi(optarg);
            break;
        case O_ROUNDS:
            opt.rounds = atol(optarg);
            break;
        case O_SLOW:
            opt.slow = atoi(optarg);
            break;
        case O_SLOWSHARE:
            opt.slow_share = atof(optarg);
            break;
        case O_SLOWRCV:
            opt.slow_rcvbuf = atoi(optarg);
            break;
        case O_SLOWREADS:
            opt.slow_reads = true;
            break;
        case O_SLOWMSS:
            opt.slow_mss = atoi(optarg);
            break;
        case O_MSG:
            opt.msg = optarg;
            break;
        case O_MESSAGES:
            opt.messages = atol(optarg);
            break;
        case O_DRAIN:
            opt.drain_s = atof(optarg);
            break;
        case O_DEADLINE:
            opt.deadline_s = atoi(optarg);
            break;
        case O_AK:
            opt.ak = optarg;
            break;
        case O_SK:
            opt.sk = optarg;
            break;
        case O_REGION:
            opt.region = optarg;
            break;
        default:
            usage();
        }
    }
    if (opt.port <= 0 || opt.clients < 0 || opt.conc < 1 || opt.publishers < 0 ||
        opt.slow > opt.clients || opt.payload < 32 || opt.payload > 60000 ||
        (opt.pub_mode == PUB_SIGV4 && (!opt.ak || !opt.sk)) ||
        (opt.period_ms > 0 && opt.rounds <= 0) ||
        ((opt.pushes > 0 || opt.period_ms > 0) &&
         (opt.publishers == 0 || opt.pub_mode == PUB_NONE)))
        usage();
    if (!opt.pub_port)
        opt.pub_port = opt.port;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)opt.deadline_s);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ld.ep = epoll_create1(EPOLL_CLOEXEC);
    if (ld.ep < 0)
        die("epoll_create1");
    ld.scratch_cap = 256 * 1024;
    ld.scratch = malloc(ld.scratch_cap);
    ld.cl = calloc((size_t)opt.clients + 1, sizeof *ld.cl);
    ld.pub = calloc((size_t)opt.publishers + 1, sizeof *ld.pub);
    ld.fast = calloc((size_t)opt.clients + 1, sizeof *ld.fast);
    ld.slow = calloc((size_t)opt.clients + 1, sizeof *ld.slow);
    if (!ld.scratch || !ld.cl || !ld.pub || !ld.fast || !ld.slow)
        die("calloc");
    for (int i = 0; i < opt.clients; i++) {
        ld.cl[i] = (conn_t){.fd = -1, .kind = K_CLIENT, .idx = i};
        /* The last --slow clients are the slow consumers (none of them has index 0). */
        ld.cl[i].slow = i >= opt.clients - opt.slow;
    }
    for (int i = 0; i < opt.publishers; i++)
        ld.pub[i] = (conn_t){.fd = -1, .kind = K_PUB, .idx = i};
    ld.dst = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    ld.pub_dst = ld.dst;
    ld.pub_dst.sin_port = htons((uint16_t)opt.pub_port);
    if (inet_pton(AF_INET, opt.host, &ld.dst.sin_addr) != 1)
        usage();
    ld.pub_dst.sin_addr = ld.dst.sin_addr;
    snprintf(ld.hostport, sizeof ld.hostport, "%s:%d", opt.host, opt.port);
    snprintf(ld.pub_hostport, sizeof ld.pub_hostport, "%s:%d", opt.host, opt.pub_port);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    static int stdin_tag;
    struct epoll_event se = {.events = EPOLLIN, .data.ptr = &stdin_tag};
    epoll_ctl(ld.ep, EPOLL_CTL_ADD, 0, &se);

    ld.t_begin = now_ns();
    ld.phase = PH_CONNECT;
    int64_t last_sweep = ld.t_begin;
    struct epoll_event evs[512];
    for (;;) {
        start_clients();
        if (ld.phase == PH_CONNECT && ld.next_client >= opt.clients && ld.inflight == 0) {
            ld.phase = PH_PUBCONNECT;
            for (int i = 0; i < opt.publishers; i++)
                pub_start(&ld.pub[i]);
        }
        if (ld.phase == PH_PUBCONNECT && ld.pubs_up + ld.pubs_failed >= opt.publishers) {
            ld.t_ready = now_ns();
            ld.phase = PH_READY;
            print_ready();
        }
        if (ld.phase == PH_READY && ld.go_pending) {
            ld.go_pending = false;
            begin_run(ld.go_t0);
        }
        int64_t wait_ns = pump();
        if (ld.phase == PH_RUN && run_finished()) {
            ld.t_end_sent = now_ns();
            ld.t_drain_start = ld.t_end_sent;
            ld.phase = PH_DRAIN;
            for (int i = 0; i < ld.nslow; i++) {
                conn_t *c = &ld.cl[ld.slow[i]];
                if (c->fd >= 0) {
                    c->reading = true;
                    set_events(c);
                }
            }
        }
        if (ld.phase == PH_DRAIN &&
            (drained() || now_ns() - ld.t_drain_start > (int64_t)(opt.drain_s * 1e9))) {
            ld.phase = PH_DONE;
            print_done();
        }
        if (wait_ns < 0 || wait_ns > 200000000LL)
            wait_ns = 200000000LL;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)wait_ns};
        int n = epoll_pwait2(ld.ep, evs, 512, &ts, NULL);
        if (n < 0 && errno != EINTR)
            die("epoll_pwait2");
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &stdin_tag) {
                on_stdin();
                continue;
            }
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            uint32_t e = evs[i].events;
            if (c->state == C_CONNECTING) {
                if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    on_connected(c);
                continue;
            }
            if ((e & EPOLLOUT) && conn_flush(c) != PT_OK) {
                if (c->kind == K_CLIENT)
                    client_failed(c);
                else {
                    conn_close(c);
                    pub_start(c);
                }
                continue;
            }
            if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c);
        }
        int64_t now = now_ns();
        if (ld.phase == PH_CONNECT && now - last_sweep > 1000000000LL) {
            last_sweep = now;
            /* Handshakes that take more than 30 s count as failed. */
            for (int i = 0; i < ld.next_client; i++) {
                conn_t *c = &ld.cl[i];
                if (c->state >= C_CONNECTING && c->state <= C_WHOAMI &&
                    now - c->t_start > 30000000000LL)
                    client_failed(c);
            }
        }
    }
}
