/* integ.c: the integration thread: one curl multi handle driven by curl_multi_poll. */
#include "integrations/integ.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * Shape of the thread (DESIGN section 3, lws-notes section 5):
 *
 *   loop: take the whole submit queue under the lock -> start each job -> curl_multi_perform
 *         -> curl_multi_info_read -> done() for each finished job -> curl_multi_poll
 *
 * Submitters wake the thread with curl_multi_wakeup only when the queue goes from empty to
 * non-empty, so a burst of submissions costs one wake-up.
 *
 * Every running job has a slot: an easy handle plus the buffers its callbacks need. Slots are
 * recycled (curl_easy_reset keeps the handle's allocations; connections stay in the multi's
 * pool), and the request's header list is built in the slot's own arrays, so once warm our
 * code allocates nothing per job except what the job keeps (the response body and one block
 * for the response headers). What remains per job is curl's own work and its system calls.
 *
 * curl_multi_perform walks every transfer and polls each active one, so its cost grows with
 * the number in flight; curl_multi_socket_action with our own epoll would avoid that. We kept
 * curl_multi_poll (DESIGN, lws-notes section 5): at up to 256 jobs in flight, 64 connections,
 * the two measured the same CPU per job here.
 */

#define DEFAULT_TIMEOUT_MS    29000
#define DEFAULT_MAX_RESPONSE  (10u * 1024 * 1024)
#define DEFAULT_MAX_HOST      64
#define DEFAULT_MAX_TOTAL     256
#define DEFAULT_CONNECT_MS    5000
#define MAX_RESP_HEADER_BYTES (256u * 1024)
#define IDLE_SLOTS_MAX        256
#define SLOT_BUF_KEEP         (64u * 1024) /* an idle slot's buffers larger than this are released */
#define POLL_IDLE_MS          1000
#define SWEEP_US              (50 * 1000) /* how often queued jobs are checked for timeouts */

typedef struct slot slot_t;

struct slot {
    CURL *easy;       /* owned; reset and reused for the next job */
    integ_job_t *job; /* the running job (not owned), NULL when idle */
    slot_t *prev;     /* running list (prev/next) or idle list (next only) */
    slot_t *next;
    size_t max_body;     /* the job's response body cap */
    int timeout_ms;      /* the job's whole-request timeout */
    int64_t deadline_us; /* _start_us + timeout_ms */
    bool too_big;        /* a callback refused data because of a cap */
    /* Request headers as curl wants them: a private copy of the job's lines split at NUL,
     * and a node array forming the curl_slist. Both grow only, so steady state is
     * allocation-free (curl only walks data/next of the list, it never frees it). */
    buf_t req_text;          /* owned */
    struct curl_slist *node; /* owned array of node_cap nodes */
    size_t node_cap;
    /* Response headers of the current (final) response: "name\0value\0" pairs. */
    buf_t resp_text; /* owned */
    size_t nresp;
    char errbuf[CURL_ERROR_SIZE];
};

struct integ {
    pthread_t thread;
    CURLM *multi; /* owned */
    int connect_timeout_ms;

    pthread_mutex_t mu; /* guards the submit queue and the stop request */
    integ_job_t *q_head;
    integ_job_t *q_tail;
    bool stopping;
    int64_t stop_deadline_us;

    atomic_size_t inflight;

    /* integration thread only */
    slot_t *running; /* doubly linked */
    size_t nrunning;
    int64_t next_sweep_us;
    slot_t *idle; /* singly linked, at most IDLE_SLOTS_MAX */
    size_t nidle;
};

/* Header lines curl would otherwise add itself: "Name:" with nothing after deletes it. */
static char hdr_no_accept[] = "Accept:";
static char hdr_no_expect[] = "Expect:";
static char hdr_no_ctype[] = "Content-Type:";

/* ---- jobs ------------------------------------------------------------------------------------ */

integ_job_t *integ_job_new(void)
{
    return pt_xcalloc(1, sizeof(integ_job_t));
}

void integ_job_free(integ_job_t *job)
{
    if (!job)
        return;
    free(job->method);
    free(job->url);
    buf_free(&job->req_headers);
    free(job->req_body);
    free(job->resp_headers); /* one block, strings included */
    buf_free(&job->resp_body);
    free(job);
}

const char *integ_job_header(const integ_job_t *job, const char *name)
{
    for (size_t i = 0; i < job->nresp_headers; i++) {
        if (strcasecmp(job->resp_headers[i].name, name) == 0)
            return job->resp_headers[i].value;
    }
    return NULL;
}

/* Copies a reason into the job, truncated to fit. */
static void set_errmsg(integ_job_t *job, const char *msg)
{
    size_t n = strnlen(msg, sizeof job->errmsg - 1);
    memcpy(job->errmsg, msg, n);
    job->errmsg[n] = '\0';
}

/* Fills the result of a job and hands it back; msg NULL keeps the errmsg already set. The job
 * is not touched afterwards: done() may free it or pass it to another thread. */
static void job_complete(integ_t *it, integ_job_t *job, int error, const char *msg)
{
    job->error = error;
    if (error == PT_OK)
        job->errmsg[0] = '\0';
    else if (msg)
        set_errmsg(job, msg);
    job->latency_us = time_mono_us() - job->_start_us;
    job->_slot = NULL;
    if (it)
        atomic_fetch_sub_explicit(&it->inflight, 1, memory_order_relaxed);
    job->done(job);
}

/* ---- curl callbacks ------------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    slot_t *s = ud;
    integ_job_t *job = s->job;
    size_t len = size * n;
    if (len > s->max_body - job->resp_body.len) {
        s->too_big = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    buf_append(&job->resp_body, p, len);
    return len;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* curl calls this once per header line of every response, interim (1xx) ones included, and
 * for the status line of each: a status line starts the list again, so only the final
 * response's headers remain. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    slot_t *s = ud;
    size_t total = size * n;
    size_t len = total;
    while (len && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        s->resp_text.len = 0;
        s->nresp = 0;
        return total;
    }
    if (len == 0)
        return total;
    if (s->resp_text.len + len + 2 > MAX_RESP_HEADER_BYTES) {
        s->too_big = true;
        return 0;
    }
    if (is_ws(p[0])) {
        /* obsolete line folding: the line continues the previous value */
        if (s->nresp == 0)
            return total;
        size_t i = 0;
        while (i < len && is_ws(p[i]))
            i++;
        s->resp_text.len--; /* drop the value's NUL */
        buf_putc(&s->resp_text, ' ');
        buf_append(&s->resp_text, p + i, len - i);
        buf_putc(&s->resp_text, '\0');
        return total;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return total;
    size_t name_len = (size_t)(colon - p);
    while (name_len && is_ws(p[name_len - 1]))
        name_len--;
    const char *v = colon + 1;
    const char *end = p + len;
    while (v < end && is_ws(*v))
        v++;
    while (end > v && is_ws(end[-1]))
        end--;
    buf_append(&s->resp_text, p, name_len);
    buf_putc(&s->resp_text, '\0');
    buf_append(&s->resp_text, v, (size_t)(end - v));
    buf_putc(&s->resp_text, '\0');
    s->nresp++;
    return total;
}

/* ---- slots ----------------------------------------------------------------------------------- */

static slot_t *slot_get(integ_t *it)
{
    slot_t *s = it->idle;
    if (s) {
        it->idle = s->next;
        it->nidle--;
        curl_easy_reset(s->easy);
    } else {
        s = pt_xcalloc(1, sizeof *s); /* owned by it: idle or running list */
        s->easy = curl_easy_init();
        if (!s->easy) {
            free(s);
            return NULL;
        }
    }
    s->prev = s->next = NULL;
    s->too_big = false;
    s->resp_text.len = 0;
    s->nresp = 0;
    s->errbuf[0] = '\0';
    return s;
}

static void slot_destroy(slot_t *s)
{
    curl_easy_cleanup(s->easy);
    buf_free(&s->req_text);
    buf_free(&s->resp_text);
    free(s->node);
    free(s);
}

/* The slot's easy handle is out of the multi handle. */
static void slot_put(integ_t *it, slot_t *s)
{
    s->job = NULL;
    if (it->nidle >= IDLE_SLOTS_MAX) {
        slot_destroy(s);
        return;
    }
    if (s->req_text.cap > SLOT_BUF_KEEP)
        buf_free(&s->req_text);
    if (s->resp_text.cap > SLOT_BUF_KEEP)
        buf_free(&s->resp_text);
    s->next = it->idle;
    it->idle = s;
    it->nidle++;
}

/* RFC 9110 token characters: methods and header names. */
static bool is_token(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c && strchr("!#$%&'*+-.^_`|~", c))))
            return false;
    }
    return true;
}

static bool name_is(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/*
 * Turns the job's "Name: value\r\n" lines into the slot's curl_slist (*list, NULL for none),
 * and adds the deletions of the headers curl would add on its own (Accept always; Expect and
 * Content-Type for a body) unless the job sets them. A header with an empty value is written
 * "Name;", which is curl's syntax for sending it empty ("Name:" alone would delete it).
 * curl sends lines verbatim, so a name that is not a token, or a CR or NUL inside a line,
 * would let a value forge headers: such a job fails with PT_EINVAL. Empty lines are skipped.
 */
static int slot_headers(slot_t *s, const integ_job_t *job, bool has_body, struct curl_slist **list)
{
    const buf_t *in = &job->req_headers;
    size_t lines = 0;
    for (size_t i = 0; i < in->len; i++)
        lines += in->p[i] == '\n';
    size_t need = lines + 1 + 3; /* an unterminated last line, three deletions */
    if (need > s->node_cap) {
        s->node = pt_xrealloc(s->node, need * sizeof *s->node);
        s->node_cap = need;
    }
    /* The copy is never longer than the input plus one NUL: CRLF becomes NUL, and an empty
     * value's ":" + blanks become ";". Reserve first so the pointers below stay valid. */
    s->req_text.len = 0;
    buf_reserve(&s->req_text, in->len + 1);
    char *out = s->req_text.p;
    size_t nn = 0;
    bool has_accept = false, has_expect = false, has_ctype = false;
    const char *p = in->p ? in->p : "";
    const char *end = p + in->len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *e = eol ? eol : end;
        if (e > p && e[-1] == '\r')
            e--;
        if (e == p) {
            p = next;
            continue;
        }
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (!colon || !is_token(p, (size_t)(colon - p)) || memchr(p, '\r', (size_t)(e - p)) ||
            memchr(p, '\0', (size_t)(e - p))) {
            snprintf(s->errbuf, sizeof s->errbuf, "invalid request header line");
            return PT_EINVAL;
        }
        size_t name_len = (size_t)(colon - p);
        has_accept |= name_is(p, name_len, "Accept");
        has_expect |= name_is(p, name_len, "Expect");
        has_ctype |= name_is(p, name_len, "Content-Type");
        const char *v = colon + 1;
        while (v < e && is_ws(*v))
            v++;
        char *line = out;
        if (v == e) {
            memcpy(out, p, name_len);
            out[name_len] = ';';
            out += name_len + 1;
        } else {
            memcpy(out, p, (size_t)(e - p));
            out += e - p;
        }
        *out++ = '\0';
        s->node[nn++].data = line;
        p = next;
    }
    s->req_text.len = (size_t)(out - s->req_text.p);
    if (!has_accept)
        s->node[nn++].data = hdr_no_accept;
    if (has_body && !has_expect)
        s->node[nn++].data = hdr_no_expect;
    if (has_body && !has_ctype)
        s->node[nn++].data = hdr_no_ctype;
    for (size_t i = 0; i < nn; i++)
        s->node[i].next = i + 1 < nn ? &s->node[i + 1] : NULL;
    *list = nn ? s->node : NULL;
    return PT_OK;
}

/* Sets every option of a transfer on a fresh (or freshly reset) easy handle. Returns PT_OK, or
 * PT_EINVAL with the reason in s->errbuf. */
static int slot_setup(integ_t *it, slot_t *s, integ_job_t *job)
{
    CURL *e = s->easy;
    const char *m = job->method ? job->method : "GET";
    struct curl_slist *headers = NULL;
    /* A body goes out with POST, PUT and PATCH (Content-Length: 0 when empty) and with any
     * other method that has one, except HEAD, whose response never has a body. */
    size_t body_len = job->req_body ? job->req_body_len : 0;
    bool is_head = !strcmp(m, "HEAD");
    bool body_method = !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
    bool has_body = !is_head && (body_len > 0 || body_method);
    CURLcode rc = CURLE_OK;

    s->job = job;
    s->max_body = job->max_response ? job->max_response : DEFAULT_MAX_RESPONSE;
    s->timeout_ms = job->timeout_ms > 0 ? job->timeout_ms : DEFAULT_TIMEOUT_MS;
    s->deadline_us = job->_start_us + (int64_t)s->timeout_ms * 1000;
    if (!job->url) {
        snprintf(s->errbuf, sizeof s->errbuf, "no URL");
        return PT_EINVAL;
    }
    if (!is_token(m, strlen(m))) {
        snprintf(s->errbuf, sizeof s->errbuf, "invalid method");
        return PT_EINVAL;
    }
    if (slot_headers(s, job, has_body, &headers) != PT_OK)
        return PT_EINVAL;

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_PRIVATE, s);
    SET(CURLOPT_URL, job->url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_HTTP_CONTENT_DECODING, 0L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_PATH_AS_IS, 1L);
    SET(CURLOPT_PROXY, ""); /* ignore *_proxy variables: backends are reached directly */
    SET(CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)it->connect_timeout_ms);
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, s);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, s);
    SET(CURLOPT_HTTPHEADER, headers);
    if (has_body) {
        /* POSTFIELDS sends the body with a Content-Length and never copies it: the job owns
         * it until done(). Any other method keeps the body under CUSTOMREQUEST. */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        SET(CURLOPT_POSTFIELDS, job->req_body ? job->req_body : "");
        if (strcmp(m, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, m);
    } else if (is_head) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, m);
    }
#undef SET
    if (rc != CURLE_OK) {
        snprintf(s->errbuf, sizeof s->errbuf, "%s", curl_easy_strerror(rc));
        return PT_EINVAL;
    }
    return PT_OK;
}

/* ---- the thread ---------------------------------------------------------------------------- */

static void job_start(integ_t *it, integ_job_t *job)
{
    slot_t *s = slot_get(it);
    if (!s) {
        job_complete(it, job, PT_EIO, "curl_easy_init failed");
        return;
    }
    int rc = slot_setup(it, s, job);
    if (rc != PT_OK) {
        set_errmsg(job, s->errbuf);
        slot_put(it, s);
        job_complete(it, job, rc, NULL);
        return;
    }
    CURLMcode mc = curl_multi_add_handle(it->multi, s->easy);
    if (mc != CURLM_OK) {
        slot_put(it, s);
        job_complete(it, job, PT_EIO, curl_multi_strerror(mc));
        return;
    }
    job->_slot = s;
    s->next = it->running;
    if (it->running)
        it->running->prev = s;
    it->running = s;
    it->nrunning++;
}

static int map_curl_error(CURLcode rc, bool too_big)
{
    switch (rc) {
    case CURLE_OK:
        return PT_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return PT_ETIMEOUT;
    case CURLE_WRITE_ERROR:
        return too_big ? PT_ETOOBIG : PT_EIO;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return PT_EINVAL;
    default:
        /* couldn't resolve/connect, reset, empty reply, send/recv errors, TLS, bad URL */
        return PT_EIO;
    }
}

/* Copies the slot's response headers into one block the job owns. */
static void take_headers(slot_t *s, integ_job_t *job)
{
    if (s->nresp == 0)
        return;
    size_t arr = s->nresp * sizeof(integ_header_t);
    char *block = pt_xmalloc(arr + s->resp_text.len); /* owned by the job */
    integ_header_t *h = (integ_header_t *)(void *)block;
    char *str = block + arr;
    memcpy(str, s->resp_text.p, s->resp_text.len);
    for (size_t i = 0; i < s->nresp; i++) {
        h[i].name = str;
        str += strlen(str) + 1;
        h[i].value = str;
        str += strlen(str) + 1;
    }
    job->resp_headers = h;
    job->nresp_headers = s->nresp;
}

/* Ends a running job: out of the multi handle, slot recycled, result filled, done(). With
 * forced_error == PT_OK the outcome comes from curl's result rc; otherwise forced_error is the
 * PT_E* to report (PT_ECLOSED at stop). */
static void job_finish(integ_t *it, slot_t *s, CURLcode rc, int forced_error)
{
    integ_job_t *job = s->job;
    curl_multi_remove_handle(it->multi, s->easy);
    if (s->prev)
        s->prev->next = s->next;
    else
        it->running = s->next;
    if (s->next)
        s->next->prev = s->prev;
    it->nrunning--;

    int error = forced_error ? forced_error : map_curl_error(rc, s->too_big);
    if (forced_error == PT_ETIMEOUT) {
        snprintf(job->errmsg, sizeof job->errmsg, "timed out after %d ms", s->timeout_ms);
    } else if (forced_error) {
        set_errmsg(job, forced_error == PT_ECLOSED ? "integration thread stopped"
                                                   : pt_strerror(forced_error));
    } else if (error == PT_ETOOBIG) {
        snprintf(job->errmsg, sizeof job->errmsg, "response over %zu bytes", s->max_body);
    } else if (error != PT_OK) {
        set_errmsg(job, s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
    } else {
        long status = 0;
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        job->status = (int)status;
        take_headers(s, job);
    }
    slot_put(it, s);
    job_complete(it, job, error, NULL);
}

static void drain_finished(integ_t *it)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(it->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        /* m is invalid once its handle leaves the multi handle: read it first */
        CURLcode rc = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        job_finish(it, (slot_t *)(void *)priv, rc, PT_OK);
    }
}

/*
 * curl checks CURLOPT_TIMEOUT_MS only once a transfer has a connection: a job queued behind
 * CURLMOPT_MAX_HOST_CONNECTIONS would wait for a free connection first, however long that
 * takes. This sweep ends such jobs on time (within SWEEP_US), counting from integ_submit.
 */
static void sweep_expired(integ_t *it, int64_t now)
{
    slot_t *next;
    for (slot_t *s = it->running; s; s = next) {
        next = s->next;
        if (now >= s->deadline_us)
            job_finish(it, s, CURLE_OPERATION_TIMEDOUT, PT_ETIMEOUT);
    }
}

static void *integ_main(void *arg)
{
    integ_t *it = arg;
    pthread_setname_np(pthread_self(), "pt-integ"); /* for top -H, perf --comm */
    for (;;) {
        pthread_mutex_lock(&it->mu);
        integ_job_t *q = it->q_head;
        it->q_head = it->q_tail = NULL;
        bool stopping = it->stopping;
        int64_t deadline = it->stop_deadline_us;
        pthread_mutex_unlock(&it->mu);

        bool expired = stopping && time_mono_us() >= deadline;
        while (q) {
            integ_job_t *next = q->_next;
            q->_next = NULL;
            if (expired)
                job_complete(it, q, PT_ECLOSED, "integration thread stopped");
            else
                job_start(it, q);
            q = next;
        }
        int still;
        curl_multi_perform(it->multi, &still);
        drain_finished(it);

        int64_t now = time_mono_us();
        if (it->nrunning && now >= it->next_sweep_us) {
            sweep_expired(it, now);
            it->next_sweep_us = now + SWEEP_US;
        }
        int wait_ms = POLL_IDLE_MS;
        if (it->nrunning)
            wait_ms = (int)((it->next_sweep_us - now) / 1000 + 1);
        if (stopping) {
            /* Nothing can be queued after stopping was set, so the queue taken above was the
             * last one: leave when its jobs are done or the grace period is over. */
            if (it->nrunning == 0 || now >= deadline)
                break;
            int64_t left_ms = (deadline - now + 999) / 1000;
            if (left_ms < wait_ms)
                wait_ms = (int)left_ms;
        }
        curl_multi_poll(it->multi, NULL, 0, wait_ms, NULL);
    }
    while (it->running)
        job_finish(it, it->running, CURLE_OK, PT_ECLOSED);
    return NULL;
}

/* ---- public -------------------------------------------------------------------------------- */

int integ_start(const integ_opts_t *opts, integ_t **out)
{
    integ_opts_t o = {0};
    if (opts)
        o = *opts;
    long max_host = o.max_host_connections > 0 ? o.max_host_connections : DEFAULT_MAX_HOST;
    long max_total = o.max_total_connections > 0 ? o.max_total_connections : DEFAULT_MAX_TOTAL;
    bool mu_ok = false;

    integ_t *it = pt_xcalloc(1, sizeof *it); /* owned by the caller until integ_stop */
    it->connect_timeout_ms = o.connect_timeout_ms > 0 ? o.connect_timeout_ms : DEFAULT_CONNECT_MS;
    atomic_init(&it->inflight, 0);
    if (pthread_mutex_init(&it->mu, NULL) != 0)
        goto fail;
    mu_ok = true;
    it->multi = curl_multi_init();
    if (!it->multi)
        goto fail;
    /* Explicit pool sizes: the defaults left many TIME_WAIT sockets (lws-notes section 5). */
    if (curl_multi_setopt(it->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host) != CURLM_OK ||
        curl_multi_setopt(it->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total) != CURLM_OK ||
        curl_multi_setopt(it->multi, CURLMOPT_MAXCONNECTS, max_total) != CURLM_OK)
        goto fail;
    if (pthread_create(&it->thread, NULL, integ_main, it) != 0)
        goto fail;
    *out = it;
    return PT_OK;

fail:
    if (it->multi)
        curl_multi_cleanup(it->multi);
    if (mu_ok)
        pthread_mutex_destroy(&it->mu);
    free(it);
    return PT_EINTERNAL;
}

void integ_submit(integ_t *it, integ_job_t *job)
{
    job->_next = NULL;
    job->_slot = NULL;
    job->_start_us = time_mono_us();
    pthread_mutex_lock(&it->mu);
    if (it->stopping) {
        pthread_mutex_unlock(&it->mu);
        job_complete(NULL, job, PT_ECLOSED, "integration thread stopped");
        return;
    }
    atomic_fetch_add_explicit(&it->inflight, 1, memory_order_relaxed);
    bool was_empty = it->q_head == NULL;
    if (it->q_tail)
        it->q_tail->_next = job;
    else
        it->q_head = job;
    it->q_tail = job;
    /* Under the lock, so integ_stop cannot free the multi handle in between. A non-empty
     * queue has a wake-up pending already. */
    if (was_empty)
        curl_multi_wakeup(it->multi);
    pthread_mutex_unlock(&it->mu);
}

size_t integ_inflight(integ_t *it)
{
    return atomic_load_explicit(&it->inflight, memory_order_relaxed);
}

void integ_stop(integ_t *it, int grace_ms)
{
    if (!it)
        return;
    pthread_mutex_lock(&it->mu);
    it->stopping = true;
    it->stop_deadline_us = time_mono_us() + (int64_t)(grace_ms > 0 ? grace_ms : 0) * 1000;
    curl_multi_wakeup(it->multi);
    pthread_mutex_unlock(&it->mu);
    pthread_join(it->thread, NULL);

    /* every easy handle is out of the multi handle now (job_finish) */
    while (it->idle) {
        slot_t *s = it->idle;
        it->idle = s->next;
        slot_destroy(s);
    }
    curl_multi_cleanup(it->multi);
    pthread_mutex_destroy(&it->mu);
    free(it);
}
