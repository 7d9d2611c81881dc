/* alog.c: access-log formats (spec 10.2): accessLogSettings.format compiled once, rendered per
 * event. */
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A format is literal text with $context.NAME variables, as API Gateway's. NAME is the longest
 * run of letters, digits, '_', '-' and '.', less trailing dots, so "$context.status." ends a
 * sentence. A variable that does not apply renders "-", as AWS's do (spec 10.2), and so does
 * one that resolves to "" (a missing User-Agent is "-", not an empty field).
 *
 * Values are escaped so that one event is always one line and the line keeps its shape: in a
 * format whose first non-blank character is '{' (a JSON format) values are escaped as JSON
 * string contents; in any other format ", \ and control characters become \xNN, as nginx
 * writes them. Literal text is copied as written; it may not contain line breaks.
 */

/* The AWS console's JSON template for WebSocket stages, used when a stage sets no format. */
const char route_alog_default_format[] =
    "{\"requestId\":\"$context.requestId\",\"ip\":\"$context.identity.sourceIp\","
    "\"requestTime\":\"$context.requestTime\",\"eventType\":\"$context.eventType\","
    "\"routeKey\":\"$context.routeKey\",\"status\":\"$context.status\","
    "\"connectionId\":\"$context.connectionId\",\"integrationLatency\":"
    "\"$context.integrationLatency\",\"errorMessage\":\"$context.error.message\"}";

typedef struct seg {
    uint32_t off; /* into text */
    uint32_t len;
    bool var; /* a variable name (without "$context.") */
} seg_t;

struct route_alog {
    char *text; /* owned copy of the format */
    seg_t *segs;
    size_t nsegs;
    bool json;
};

#define PREFIX     "$context."
#define PREFIX_LEN (sizeof PREFIX - 1)

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

static void add_seg(route_alog_t *f, size_t *cap, size_t off, size_t len, bool var)
{
    if (len == 0)
        return;
    if (!var && f->nsegs && !f->segs[f->nsegs - 1].var &&
        f->segs[f->nsegs - 1].off + f->segs[f->nsegs - 1].len == off) {
        f->segs[f->nsegs - 1].len += (uint32_t)len; /* merge adjacent literals */
        return;
    }
    if (f->nsegs == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        f->segs = pt_xrealloc(f->segs, *cap * sizeof *f->segs);
    }
    f->segs[f->nsegs++] = (seg_t){.off = (uint32_t)off, .len = (uint32_t)len, .var = var};
}

static bool is_var(const route_alog_t *f, const seg_t *s, const char *name)
{
    size_t n = strlen(name);
    return s->var && s->len == n && memcmp(f->text + s->off, name, n) == 0;
}

int route_alog_compile(const char *fmt, size_t len, route_alog_t **out, buf_t *err)
{
    route_alog_t *f = NULL;
    size_t cap = 0, lit = 0;
    int rc = PT_EPARSE;

    *out = NULL;
    if (len == 0) {
        if (err)
            buf_puts(err, "must not be empty");
        return PT_EPARSE;
    }
    if (len > ROUTE_ALOG_FORMAT_MAX) {
        if (err)
            buf_printf(err, "is %zu bytes long; the limit is %d", len, ROUTE_ALOG_FORMAT_MAX);
        return PT_ETOOBIG;
    }
    f = pt_xcalloc(1, sizeof *f);
    f->text = pt_xstrndup(fmt, len);
    for (size_t i = 0; i < len; i++) {
        char c = fmt[i];
        if (c == '\n' || c == '\r' || c == '\0') {
            if (err)
                buf_puts(err, "must be one line (one log line per event): no line breaks");
            goto fail;
        }
        if (c != '$' || len - i < PREFIX_LEN || memcmp(fmt + i, PREFIX, PREFIX_LEN) != 0)
            continue;
        size_t j = i + PREFIX_LEN;
        while (j < len && name_char(fmt[j]))
            j++;
        while (j > i + PREFIX_LEN && fmt[j - 1] == '.')
            j--;
        if (j == i + PREFIX_LEN) {
            if (err)
                buf_printf(err, "expected a variable name after $context. at offset %zu", i);
            goto fail;
        }
        add_seg(f, &cap, lit, i - lit, false);
        add_seg(f, &cap, i + PREFIX_LEN, j - i - PREFIX_LEN, true);
        lit = j;
        i = j - 1;
    }
    add_seg(f, &cap, lit, len - lit, false);
    bool has_id = false;
    for (size_t i = 0; i < f->nsegs; i++)
        has_id |=
            is_var(f, &f->segs[i], "requestId") || is_var(f, &f->segs[i], "extendedRequestId");
    if (!has_id) {
        /* AWS refuses such a format too: every line must be traceable to its request. */
        if (err)
            buf_puts(err, "must contain $context.requestId or $context.extendedRequestId");
        goto fail;
    }
    for (size_t i = 0; i < len; i++) {
        if (fmt[i] == ' ' || fmt[i] == '\t')
            continue;
        f->json = fmt[i] == '{';
        break;
    }
    *out = f;
    return PT_OK;
fail:
    route_alog_free(f);
    return rc;
}

void route_alog_free(route_alog_t *f)
{
    if (!f)
        return;
    free(f->segs);
    free(f->text);
    free(f);
}

bool route_alog_is_json(const route_alog_t *f)
{
    return f->json;
}

static void put_escaped(buf_t *out, const char *s, size_t n, bool json)
{
    static const char hex[] = "0123456789abcdef";
    if (json) {
        buf_json_escape(out, s, n);
        return;
    }
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\')
            continue;
        buf_append(out, s + run, i - run);
        char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
        buf_append(out, e, 4);
        run = i + 1;
    }
    buf_append(out, s + run, n - run);
}

void route_alog_render(const route_alog_t *f, const route_ctx_t *ctx, route_alog_var_fn extra,
                       void *ud, buf_t *out, buf_t *scratch)
{
    for (size_t i = 0; i < f->nsegs; i++) {
        const seg_t *s = &f->segs[i];
        const char *p = f->text + s->off;
        if (!s->var) {
            buf_append(out, p, s->len);
            continue;
        }
        buf_reset(scratch);
        bool ok = (extra && extra(ud, p, s->len, scratch)) ||
                  (ctx && route_ctx_var(ctx, p, s->len, scratch));
        if (!ok || scratch->len == 0)
            buf_putc(out, '-');
        else
            put_escaped(out, scratch->p, scratch->len, f->json);
    }
    buf_putc(out, '\n');
}

/* ---- destinations -------------------------------------------------------------------------- */

/* "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE" -> service and resource, or false. */
static bool arn_split(const char *s, const char **svc, size_t *svc_len, const char **res)
{
    const char *f[6];
    size_t k = 0;
    f[k++] = s;
    for (const char *p = s; *p && k < 6; p++)
        if (*p == ':')
            f[k++] = p + 1;
    if (k < 6 || strncmp(s, "arn:", 4) != 0 || strncmp(f[1], "aws", 3) != 0)
        return false;
    *svc = f[2];
    *svc_len = (size_t)(f[3] - f[2] - 1);
    *res = f[5];
    return *svc_len > 0;
}

int route_alog_dest(const char *dest, route_alog_dest_kind_t *kind, buf_t *out, buf_t *err)
{
    size_t n = strlen(dest);
    if (n == 0) {
        if (err)
            buf_puts(err, "must not be empty");
        return PT_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)dest[i];
        if (c < 0x20 || c == 0x7f) {
            if (err)
                buf_puts(err, "must not contain control characters");
            return PT_EINVAL;
        }
    }
    if (strcmp(dest, "stdout") == 0) {
        *kind = ROUTE_ALOG_DEST_STDOUT;
        return PT_OK;
    }
    if (strncmp(dest, "arn:", 4) != 0) {
        if (dest[n - 1] == '/') {
            if (err)
                buf_puts(err, "names a directory; expected a file path, \"stdout\" or an ARN");
            return PT_EINVAL;
        }
        *kind = ROUTE_ALOG_DEST_FILE;
        buf_puts(out, dest);
        return PT_OK;
    }
    /* An AWS destination: CloudWatch Logs log group or Kinesis Data Firehose stream. Portico
     * writes it to a file named after the group or stream under the data directory, so a
     * config exported from AWS runs unchanged and its logs land somewhere predictable. */
    const char *svc, *res, *name = NULL;
    size_t svc_len;
    if (arn_split(dest, &svc, &svc_len, &res)) {
        if (svc_len == 4 && memcmp(svc, "logs", 4) == 0 && strncmp(res, "log-group:", 10) == 0)
            name = res + 10;
        else if (svc_len == 8 && memcmp(svc, "firehose", 8) == 0 &&
                 strncmp(res, "deliverystream/", 15) == 0)
            name = res + 15;
    }
    size_t nl = name ? strcspn(name, ":") : 0; /* a log-group ARN may end in ":*" */
    if (!name || nl == 0 || nl > 512 || (name[nl] && strcmp(name + nl, ":*") != 0)) {
        if (err)
            buf_puts(err, "expected a file path, \"stdout\", "
                          "arn:aws:logs:REGION:ACCOUNT:log-group:NAME or "
                          "arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME");
        return PT_EINVAL;
    }
    while (nl > 0 && *name == '/') {
        name++;
        nl--;
    }
    if (nl == 0) {
        if (err)
            buf_puts(err, "the log group name is empty");
        return PT_EINVAL;
    }
    for (size_t i = 0; i < nl; i++) {
        char c = name[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        buf_putc(out, keep ? c : '_');
    }
    buf_puts(out, ".log");
    *kind = ROUTE_ALOG_DEST_ARN;
    return PT_OK;
}
