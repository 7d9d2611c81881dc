/* http.h: HTTP/1.1 request-head parsing and small HTTP text helpers; pure functions, no I/O. */
#ifndef PORTICO_COMMON_HTTP_H
#define PORTICO_COMMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 100

/* A header as received: pointers into the caller's buffer, not NUL-terminated. */
typedef struct http_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading and trailing whitespace removed */
    size_t value_len;
} http_header_t;

/*
 * A parsed request head. Every pointer points into the buffer given to http_parse_request, so
 * the buffer must outlive the struct. Nothing is decoded: target is the raw request-target, as
 * SigV4 needs it.
 */
typedef struct http_request {
    const char *method;
    size_t method_len;
    const char *target; /* raw request-target, e.g. "/prod/@connections/abc%3D?x=1" */
    size_t target_len;
    const char *path; /* target up to '?' (still percent-encoded) */
    size_t path_len;
    const char *query; /* after '?', NULL when the target has no '?' */
    size_t query_len;
    int minor_version; /* HTTP/1.<minor_version> */
    size_t nheaders;
    http_header_t headers[HTTP_MAX_HEADERS];
    size_t head_len; /* bytes of the head, final CRLFCRLF included */
} http_request_t;

/*
 * Parses a request head from buf[0..len).
 * Returns PT_OK (req filled, req->head_len set), PT_EAGAIN when the head is not complete yet,
 * PT_EPARSE when it is malformed, PT_ETOOBIG with more than HTTP_MAX_HEADERS headers.
 * Accepts bare LF line ends; rejects obsolete line folding, NUL and control bytes, and a
 * request-target that is not origin-form or asterisk-form.
 */
int http_parse_request(const char *buf, size_t len, http_request_t *req);

/* Case-insensitive lookup of the first header named `name`; NULL when absent. */
const http_header_t *http_find_header(const http_request_t *req, const char *name);

/* True when the comma-separated header value contains `token` (case-insensitive). */
bool http_value_has_token(const char *value, size_t len, const char *token);

/* Case-insensitive comparison of a counted string with a C string. */
bool http_ieq(const char *a, size_t alen, const char *b);

/*
 * Percent-decodes in[0..n) into out (which needs n+1 bytes); '+' is kept as '+' unless
 * plus_is_space. Returns the decoded length, or -1 on a malformed escape. out is
 * NUL-terminated; decoded NUL bytes make the call fail (-1) so callers can use C strings.
 */
long http_pct_decode(const char *in, size_t n, char *out, bool plus_is_space);

/*
 * Iterates over a raw query string ("a=1&b=&c"). *pos starts at 0. On each call returns true
 * and sets key/value to the raw (still encoded) pieces; value_len is 0 and value NULL-free
 * ("") for "c". Returns false when done. Empty pieces ("a=1&&b") are skipped.
 */
bool http_query_next(const char *q, size_t qlen, size_t *pos, const char **key, size_t *key_len,
                     const char **val, size_t *val_len);

/* Reason phrase for a status code ("Not Found"); "Unknown" for codes it does not know. */
const char *http_reason(int status);

/*
 * Parses an unsigned decimal (Content-Length and the like): digits only, no sign, no spaces,
 * at most 18 digits. Returns 0 and sets *out, or PT_EPARSE.
 */
int http_parse_u64(const char *s, size_t n, uint64_t *out);

#endif
