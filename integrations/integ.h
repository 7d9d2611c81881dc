/* integ.h: the integration thread: runs backend HTTP requests (libcurl multi) off the workers. */
#ifndef PORTICO_INTEGRATIONS_INTEG_H
#define PORTICO_INTEGRATIONS_INTEG_H

#include "common/buf.h"
#include "common/http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One thread runs a curl_multi loop (curl_multi_poll + curl_multi_wakeup, DESIGN section 3).
 * Workers submit jobs from their own threads; the thread runs them concurrently and calls each
 * job's `done` callback *on the integration thread* when it finishes. The gateway's callback
 * posts the job into the owning worker's inbox, so nothing in this module knows about workers.
 *
 * Connections to backends are kept alive and reused (CURLMOPT_MAX_HOST_CONNECTIONS and
 * CURLMOPT_MAXCONNECTS are set explicitly).
 *
 * On the wire: HTTP/1.1, the job's method, headers and body as given; curl adds only Host and
 * Content-Length (its default Accept, Expect: 100-continue and form Content-Type are
 * suppressed). No redirects are followed, nothing is decompressed, *_proxy environment
 * variables are ignored. Only the final response's headers are kept (1xx ones are dropped).
 * This module never logs: everything it has to say is in the job.
 */

typedef struct integ integ_t;
typedef struct integ_job integ_job_t;

typedef void (*integ_done_cb)(integ_job_t *job);

/* One response header, owned by the job. All of a job's headers and their strings live in one
 * block (resp_headers); only integ_job_free releases it. */
typedef struct integ_header {
    char *name;
    char *value;
} integ_header_t;

struct integ_job {
    /* --- request: filled by the submitter; owned by the job (freed by integ_job_free) --- */
    char *method;      /* sent as given ("GET", "POST", any token); NULL = GET */
    char *url;         /* http:// or https:// */
    buf_t req_headers; /* "Name: value\r\n" lines, sent as given, in order */
    char *req_body;    /* may be NULL; never sent with HEAD */
    size_t req_body_len;
    int timeout_ms;      /* from integ_submit, waiting for a connection included; 0 = 29000 */
    size_t max_response; /* response body cap; 0 = 10 MiB; over it: PT_ETOOBIG */

    /* --- result: filled by the integration thread before done() --- */
    /* PT_OK, PT_ETIMEOUT, PT_EIO (connect, reset, DNS, TLS, empty reply: any other failure),
     * PT_ETOOBIG (body over max_response, or over 256 KiB of headers), PT_ECLOSED (stopped),
     * PT_EINVAL (nothing sent: method not a token, a header line without a token name and ':'
     * or with a CR or NUL inside, URL malformed or not http/https) */
    int error;
    char errmsg[128]; /* curl's reason (or ours) when error != PT_OK, else "" */
    int status;       /* HTTP status when error == PT_OK */
    integ_header_t *resp_headers;
    size_t nresp_headers;
    buf_t resp_body;
    int64_t latency_us; /* from integ_submit to completion (queueing included) */

    /* --- submitter's completion --- */
    integ_done_cb done; /* called once, on the integration thread */
    void *user;         /* submitter's data */
    uint64_t user_u64;  /* submitter's data */

    /* --- private --- */
    integ_job_t *_next; /* submit queue link */
    void *_slot;        /* integ.c's running slot (easy handle, buffers) while running */
    int64_t _start_us;  /* time_mono_us() at integ_submit */
};

typedef struct integ_opts {
    int max_host_connections;  /* 0 = 64 */
    int max_total_connections; /* 0 = 256 */
    int connect_timeout_ms;    /* 0 = 5000 */
} integ_opts_t;

/* Starts the thread. Call curl_global_init first (the gateway does, before any thread). Returns
 * PT_OK or PT_EINTERNAL. */
int integ_start(const integ_opts_t *opts, integ_t **out);

/*
 * Thread-safe. The job belongs to the integration thread until done() is called; done() is
 * called exactly once for every submitted job. Its result fields must be empty (a new job).
 *
 * After integ_stop began, the job is not queued: it completes with PT_ECLOSED at once, and
 * done() runs *on the caller's thread, before integ_submit returns*. Calling integ_submit after
 * integ_stop has returned is a use after free.
 */
void integ_submit(integ_t *it, integ_job_t *job);

/* Number of jobs submitted and not yet completed (thread-safe). */
size_t integ_inflight(integ_t *it);

/*
 * Stops the thread: from now on integ_submit refuses jobs (PT_ECLOSED, see above). Jobs
 * submitted before are still started and may finish for up to grace_ms (so $disconnect calls
 * queued at shutdown get their chance); after that, everything pending or running completes
 * with PT_ECLOSED on the integration thread. Returns as soon as nothing is left, joins and
 * frees. done() has been called for every job when it returns. Not from a done() callback (it
 * joins the thread that runs them). NULL is a no-op.
 */
void integ_stop(integ_t *it, int grace_ms);

/* Allocates a zeroed job; integ_job_free releases it and everything it owns. */
integ_job_t *integ_job_new(void);
void integ_job_free(integ_job_t *job);

/* Case-insensitive lookup of a response header; NULL when absent. */
const char *integ_job_header(const integ_job_t *job, const char *name);

#endif
