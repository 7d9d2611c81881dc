/* fuzz_sigv4.c: libFuzzer target for SigV4 verification, signing and presigning (common/sigv4.c).
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/sigv4.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Input format (corpus in tests/fuzz/corpus/sigv4/):
 *
 *   byte 0      flags: bit0 accept_single_encoding, bit1 explain, bit2 use the key cache,
 *               bit3 the credential has a session token (TOKEN below, the vectors'),
 *               bit4 any region (NULL),
 *               bits5-7 pick the clock: base + {0, -300, +300, -301, +301, +3600, +604800,
 *               +604801} seconds
 *   then        METHOD "\n" TARGET "\n" (NAME ":" VALUE "\n")* "\n" BODY
 *
 * Header lines end at "\n" (at most 24; a line without ':' is a name with an empty value);
 * an empty line ends them and the rest is the body. The base time is the first X-Amz-Date
 * header when it parses, else 20150830T123600Z. Known keys: AKIDEXAMPLE /
 * wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY and AKID / SECRET (the curl fixtures'); service
 * execute-api, region us-east-1.
 *
 * Besides "no crash, no leak, no UB", the target checks one property: a request signed by
 * sigv4_sign (or presigned by sigv4_presign) from the fuzzed method, target, headers and body
 * verifies, whenever the inputs are ones a client could send as such.
 */

#define T2015    1440938160
#define MAX_HDRS 24
#define TOKEN    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+test/token=="

static sigv4_cred_t creds[2] = {
    {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, NULL},
    {"AKID", "SECRET", NULL, NULL},
};
static sigv4_cache_t cache;

static const sigv4_cred_t *lookup(void *ctx, const char *akid, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < 2; i++)
        if (strlen(creds[i].access_key_id) == n && memcmp(creds[i].access_key_id, akid, n) == 0)
            return &creds[i];
    return NULL;
}

static bool ieq(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++) {
        char c = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
        if (c != b[i])
            return false;
    }
    return true;
}

/* RFC 9110 token characters: what a header name can be on the wire. */
static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c && strchr("!#$%&'*+-.^_`|~", c))))
            return false;
    }
    return true;
}

static char *dup_n(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Adds the "Name: value\r\n" lines of `signed_out` to headers, splitting the buffer in place. */
static size_t add_lines(char *p, http_header_t *h, size_t n)
{
    while (p && *p) {
        char *eol = strstr(p, "\r\n");
        char *colon = strchr(p, ':');
        if (!eol || !colon || colon > eol)
            abort(); /* sigv4_sign broke its own output format */
        *eol = *colon = '\0';
        h[n].name = p;
        h[n].name_len = strlen(p);
        h[n].value = colon + 2;
        h[n].value_len = strlen(colon + 2);
        n++;
        p = eol + 2;
    }
    return n;
}

static void run_verify(const sigv4_request_t *req, sigv4_verify_opts_t *o)
{
    sigv4_result_t res;
    int rc = sigv4_verify(req, o, &res);
    if ((rc == PT_OK) != (res.status == SIGV4_OK) || (rc != PT_OK && rc != PT_EAUTH))
        abort();
    if (res.status != SIGV4_OK && (!res.error_type || !res.error_type[0] || !res.message.len))
        abort(); /* every failure carries AWS's type and words */
    buf_free(&res.message);
}

/* The round trip: what we sign, we accept. */
static void check_sign(const uint8_t flags, const char *method, const char *target,
                       const char *host, const http_header_t *extra, size_t nextra,
                       const void *body, size_t body_len, bool names_ok, int64_t now)
{
    sigv4_sign_params_t p;
    memset(&p, 0, sizeof p);
    p.access_key_id = "AKIDEXAMPLE";
    p.secret_access_key = creds[0].secret_access_key;
    p.session_token = creds[0].session_token;
    p.region = "us-east-1";
    p.service = "execute-api";
    p.now = now;
    p.method = method;
    p.host = host;
    p.target = target;
    p.headers = extra;
    p.nheaders = nextra;
    p.body = body;
    p.body_len = body_len;
    p.add_content_sha256 = flags & 0x02;
    p.cache = (flags & 0x04) ? &cache : NULL;

    sigv4_verify_opts_t o;
    memset(&o, 0, sizeof o);
    o.service = "execute-api";
    o.region = "us-east-1";
    o.now = now;
    o.lookup = lookup;
    o.cache = p.cache;
    /* Targets a client could not send as such, or that name X-Amz-* parameters itself. */
    bool plain = !has_ctl(target) && !has_ctl(host) && !has_ctl(method) && !strchr(target, '%') &&
                 !strstr(target, "Amz") && now >= 0 && now <= 253402300799LL;

    buf_t out = BUF_INIT; /* owned; freed below */
    http_header_t h[MAX_HDRS + 8];
    if (sigv4_sign(&p, &out) == PT_OK) {
        size_t n = 0;
        h[n++] = (http_header_t){"Host", 4, host, strlen(host)};
        for (size_t i = 0; i < nextra; i++)
            h[n++] = extra[i];
        n = add_lines(out.p, h, n);
        sigv4_request_t r = {method, strlen(method), target, strlen(target), h, n, body, body_len};
        sigv4_result_t res;
        sigv4_verify(&r, &o, &res);
        if (plain && names_ok && res.status != SIGV4_OK)
            abort(); /* we rejected our own signature */
        buf_free(&res.message);
    }
    buf_reset(&out);
    int expires = 1 + (int)((body_len * 7919 + flags) % 604800);
    p.headers = NULL;
    p.nheaders = 0;
    if (sigv4_presign(&p, expires, &out) == PT_OK) {
        h[0] = (http_header_t){"Host", 4, host, strlen(host)};
        sigv4_request_t r = {method, strlen(method), out.p, out.len, h, 1, NULL, 0};
        sigv4_result_t res;
        sigv4_verify(&r, &o, &res);
        if (plain && res.status != SIGV4_OK)
            abort(); /* we rejected our own presigned URL */
        buf_free(&res.message);
    }
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t offsets[8] = {0, -300, 300, -301, 301, 3600, 604800, 604801};
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    char *method = NULL, *target = NULL;      /* owned; freed at the end */
    char *names[MAX_HDRS], *values[MAX_HDRS]; /* owned; freed at the end */
    http_header_t hdrs[MAX_HDRS];
    size_t nh = 0;

    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    method = dup_n(p, nl ? (size_t)(nl - p) : (size_t)(end - p));
    p = nl ? nl + 1 : end;
    nl = memchr(p, '\n', (size_t)(end - p));
    target = dup_n(p, nl ? (size_t)(nl - p) : (size_t)(end - p));
    p = nl ? nl + 1 : end;
    while (p < end && nh < MAX_HDRS) {
        nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len == 0) {
            p++;
            break;
        }
        const uint8_t *colon = memchr(p, ':', len);
        size_t nlen = colon ? (size_t)(colon - p) : len;
        names[nh] = dup_n(p, nlen);
        values[nh] = colon ? dup_n(colon + 1, len - nlen - 1) : dup_n(p, 0);
        hdrs[nh] = (http_header_t){names[nh], nlen, values[nh], strlen(values[nh])};
        /* Values keep embedded NULs out of strlen's way: the header holds the real length. */
        hdrs[nh].value_len = colon ? len - nlen - 1 : 0;
        nh++;
        p = nl ? nl + 1 : end;
    }
    const uint8_t *body = p;
    size_t body_len = (size_t)(end - p);

    int64_t base = T2015;
    for (size_t i = 0; i < nh; i++)
        if (ieq(hdrs[i].name, hdrs[i].name_len, "x-amz-date")) {
            int64_t t;
            if (sigv4_parse_amz_date(hdrs[i].value, hdrs[i].value_len, &t) == PT_OK)
                base = t;
            break;
        }
    int64_t now = base + offsets[flags >> 5];

    creds[0].session_token = creds[1].session_token = (flags & 0x08) ? TOKEN : NULL;
    sigv4_verify_opts_t o;
    memset(&o, 0, sizeof o);
    o.service = "execute-api";
    o.region = (flags & 0x10) ? NULL : "us-east-1";
    o.now = now;
    o.accept_single_encoding = flags & 0x01;
    o.explain = flags & 0x02;
    o.lookup = lookup;
    o.cache = (flags & 0x04) ? &cache : NULL;
    sigv4_request_t req = {method, strlen(method), target,  strlen(target), hdrs,
                           nh,     body,           body_len};
    run_verify(&req, &o);

    /* Signing side on derived inputs: the fuzzed headers minus the ones the signer owns. */
    const char *host = "example.com";
    http_header_t extra[MAX_HDRS];
    size_t nextra = 0;
    bool names_ok = true;
    for (size_t i = 0; i < nh; i++) {
        const http_header_t *x = &hdrs[i];
        if (ieq(x->name, x->name_len, "host")) {
            if (strlen(x->value) == x->value_len && !has_ctl(x->value))
                host = x->value;
            continue;
        }
        if (ieq(x->name, x->name_len, "authorization") || ieq(x->name, x->name_len, "x-amz-date") ||
            ieq(x->name, x->name_len, "x-amz-security-token") ||
            ieq(x->name, x->name_len, "x-amz-content-sha256"))
            continue;
        names_ok = names_ok && is_token(x->name, x->name_len);
        extra[nextra++] = *x;
    }
    check_sign(flags, method, target, host, extra, nextra, body, body_len, names_ok, now);

    for (size_t i = 0; i < nh; i++) {
        free(names[i]);
        free(values[i]);
    }
    free(target);
    free(method);
    return 0;
}
