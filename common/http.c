/* http.c: HTTP/1.1 request-head parsing and small HTTP text helpers. */
#include "common/http.h"
#include "common/err.h"

#include <string.h>

/* RFC 9110 tchar: the bytes allowed in methods and header names (ALPHA, DIGIT and
 * "!#$%&'*+-.^_`|~"). A table: this runs for every byte of every header name. */
static const uint8_t tchar_table[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline bool is_tchar(unsigned char c)
{
    return tchar_table[c] != 0;
}

/* Visible ASCII and obs-text (>= 0x80) are allowed in the request-target and values. */
static bool is_vchar_or_obs(unsigned char c)
{
    return (c > 0x20 && c != 0x7f);
}

static bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* Finds the end of the line starting at p: returns the index of '\n', or -1. */
static long line_end(const char *buf, size_t len, size_t p)
{
    const char *nl = memchr(buf + p, '\n', len - p);
    return nl ? (long)(nl - buf) : -1;
}

int http_parse_request(const char *buf, size_t len, http_request_t *req)
{
    size_t p = 0;
    memset(req, 0, offsetof(http_request_t, headers));
    req->nheaders = 0;

    /* Tolerate empty lines before the request line (RFC 9112 2.2). */
    while (p < len && (buf[p] == '\r' || buf[p] == '\n'))
        p++;
    long le = line_end(buf, len, p);
    if (le < 0) {
        /* Fail early on garbage rather than waiting for a newline that may never come. */
        for (size_t i = p; i < len; i++) {
            unsigned char c = (unsigned char)buf[i];
            if (c != '\r' && c != ' ' && !is_vchar_or_obs(c))
                return PT_EPARSE;
        }
        return PT_EAGAIN;
    }
    size_t end = (size_t)le;
    if (end > p && buf[end - 1] == '\r')
        end--;

    /* method SP request-target SP HTTP/1.x */
    size_t s = p;
    while (p < end && is_tchar((unsigned char)buf[p]))
        p++;
    if (p == s || p >= end || buf[p] != ' ')
        return PT_EPARSE;
    req->method = buf + s;
    req->method_len = p - s;
    p++;
    s = p;
    while (p < end && is_vchar_or_obs((unsigned char)buf[p]))
        p++;
    if (p == s || p >= end || buf[p] != ' ')
        return PT_EPARSE;
    req->target = buf + s;
    req->target_len = p - s;
    if (!(req->target[0] == '/' || (req->target_len == 1 && req->target[0] == '*')))
        return PT_EPARSE;
    const char *q = memchr(req->target, '?', req->target_len);
    req->path = req->target;
    if (q) {
        req->path_len = (size_t)(q - req->target);
        req->query = q + 1;
        req->query_len = req->target_len - req->path_len - 1;
    } else {
        req->path_len = req->target_len;
    }
    p++;
    if (end - p != 8 || memcmp(buf + p, "HTTP/1.", 7) != 0 || buf[p + 7] < '0' || buf[p + 7] > '9')
        return PT_EPARSE;
    req->minor_version = buf[p + 7] - '0';
    p = (size_t)le + 1;

    for (;;) {
        le = line_end(buf, len, p);
        if (le < 0)
            return PT_EAGAIN;
        end = (size_t)le;
        if (end > p && buf[end - 1] == '\r')
            end--;
        if (end == p) {
            req->head_len = (size_t)le + 1;
            return PT_OK;
        }
        if (is_ows((unsigned char)buf[p]))
            return PT_EPARSE; /* obsolete line folding */
        s = p;
        while (p < end && is_tchar((unsigned char)buf[p]))
            p++;
        if (p == s || p >= end || buf[p] != ':')
            return PT_EPARSE;
        if (req->nheaders == HTTP_MAX_HEADERS)
            return PT_ETOOBIG;
        http_header_t *h = &req->headers[req->nheaders++];
        h->name = buf + s;
        h->name_len = p - s;
        p++;
        while (p < end && is_ows((unsigned char)buf[p]))
            p++;
        size_t vs = p, ve = end;
        while (ve > vs && is_ows((unsigned char)buf[ve - 1]))
            ve--;
        for (size_t i = vs; i < ve; i++) {
            unsigned char c = (unsigned char)buf[i];
            if (!is_ows(c) && !is_vchar_or_obs(c))
                return PT_EPARSE;
        }
        h->value = buf + vs;
        h->value_len = ve - vs;
        p = (size_t)le + 1;
    }
}

bool http_ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return false;
    }
    return true;
}

const http_header_t *http_find_header(const http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (http_ieq(req->headers[i].name, req->headers[i].name_len, name))
            return &req->headers[i];
    return NULL;
}

bool http_value_has_token(const char *value, size_t len, const char *token)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows((unsigned char)value[i]) || value[i] == ','))
            i++;
        size_t s = i;
        while (i < len && value[i] != ',')
            i++;
        size_t e = i;
        while (e > s && is_ows((unsigned char)value[e - 1]))
            e--;
        if (e > s && http_ieq(value + s, e - s, token))
            return true;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long http_pct_decode(const char *in, size_t n, char *out, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= n) {
                out[o] = '\0';
                return -1;
            }
            int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
            if (h < 0 || l < 0) {
                out[o] = '\0';
                return -1;
            }
            c = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0') {
            out[o] = '\0';
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

bool http_query_next(const char *q, size_t qlen, size_t *pos, const char **key, size_t *key_len,
                     const char **val, size_t *val_len)
{
    size_t i = *pos;
    while (i < qlen) {
        size_t s = i;
        while (i < qlen && q[i] != '&')
            i++;
        size_t e = i;
        if (i < qlen)
            i++;
        if (e == s)
            continue;
        const char *eq = memchr(q + s, '=', e - s);
        *key = q + s;
        if (eq) {
            *key_len = (size_t)(eq - (q + s));
            *val = eq + 1;
            *val_len = (size_t)(q + e - (eq + 1));
        } else {
            *key_len = e - s;
            *val = q + e;
            *val_len = 0;
        }
        *pos = i;
        return true;
    }
    *pos = i;
    return false;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Unknown";
}

int http_parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 18)
        return PT_EPARSE;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return PT_EPARSE;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return PT_OK;
}
