/* util.c: text helpers of routes/: UTF-8-safe JSON strings, JSON writing, percent-encoding, regex.
 */
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 when s starts an ill-formed one
 * (RFC 3629 table 3-7: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[2] & 0xc0) != 0x80)
            return 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
        return s[1] >= lo && s[1] <= hi ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        return s[1] >= lo && s[1] <= hi ? 4 : 0;
    }
    return 0;
}

static const char REPLACEMENT[] = "\xef\xbf\xbd"; /* U+FFFD */

bool route__utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

void route__utf8_sanitize(buf_t *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    buf_reserve(out, n);
    while (i < n) {
        size_t k = p[i] < 0x80 ? 1 : utf8_seq(p + i, n - i);
        if (k) {
            i += k;
            continue;
        }
        buf_append(out, s + run, i - run);
        buf_append(out, REPLACEMENT, 3);
        run = ++i;
    }
    buf_append(out, s + run, n - run);
}

void route__json_esc(buf_t *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    buf_reserve(out, n + 2);
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(p + i, n - i);
            if (k) {
                i += k;
                continue;
            }
        }
        buf_append(out, s + run, i - run);
        switch (c) {
        case '"':
            buf_append(out, "\\\"", 2);
            break;
        case '\\':
            buf_append(out, "\\\\", 2);
            break;
        case '\n':
            buf_append(out, "\\n", 2);
            break;
        case '\r':
            buf_append(out, "\\r", 2);
            break;
        case '\t':
            buf_append(out, "\\t", 2);
            break;
        case '\b':
            buf_append(out, "\\b", 2);
            break;
        case '\f':
            buf_append(out, "\\f", 2);
            break;
        default:
            if (c < 0x20) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(out, e, 6);
            } else {
                buf_append(out, REPLACEMENT, 3); /* a byte that starts no valid sequence */
            }
        }
        run = ++i;
    }
    buf_append(out, s + run, n - run);
}

void route__json_str(buf_t *out, const char *s, size_t n)
{
    buf_putc(out, '"');
    route__json_esc(out, s, n);
    buf_putc(out, '"');
}

/* ---- JSON writing ----------------------------------------------------------------------- */

void route__fmt_real(double d, char out[32])
{
    if (!isfinite(d)) {
        snprintf(out, 32, "null");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    /* A real stays a real when read back ("1.0", not "1"), as Jackson and jansson write it. */
    if (!strpbrk(out, ".eE"))
        strcat(out, ".0");
}

static void json_write(buf_t *out, const json_t *v, int depth)
{
    char num[32];
    if (!v || depth > 4096) {
        buf_puts(out, "null");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        size_t kl;
        bool first = true;
        buf_putc(out, '{');
        json_object_keylen_foreach((json_t *)v, k, kl, x)
        {
            if (!first)
                buf_putc(out, ',');
            first = false;
            route__json_str(out, k, kl);
            buf_putc(out, ':');
            json_write(out, x, depth + 1);
        }
        buf_putc(out, '}');
        break;
    }
    case JSON_ARRAY:
        buf_putc(out, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                buf_putc(out, ',');
            json_write(out, json_array_get(v, i), depth + 1);
        }
        buf_putc(out, ']');
        break;
    case JSON_STRING:
        route__json_str(out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        buf_puts(out, num);
        break;
    case JSON_REAL:
        route__fmt_real(json_real_value(v), num);
        buf_puts(out, num);
        break;
    case JSON_TRUE:
        buf_puts(out, "true");
        break;
    case JSON_FALSE:
        buf_puts(out, "false");
        break;
    case JSON_NULL:
        buf_puts(out, "null");
        break;
    }
}

void route__json_write(buf_t *out, const json_t *v)
{
    json_write(out, v, 0);
}

/* ---- percent-encoding ------------------------------------------------------------------- */

void route__pct_encode(buf_t *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            buf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(out, e, 3);
        }
    }
}

/* ---- regular expressions ---------------------------------------------------------------- */

int route__regex_compile(regex_t *re, const char *pat, size_t n, bool anchored)
{
    buf_t b = BUF_INIT;
    bool in_bracket = false;
    int rc = PT_OK;

    /* Java patterns reach us from users; a bounded length keeps matching cheap. */
    if (n > 1024) {
        rc = PT_EPARSE;
        goto out;
    }
    if (anchored)
        buf_puts(&b, "^(");
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\0') {
            rc = PT_EPARSE;
            goto out;
        }
        if (in_bracket) {
            if (c == '\\' && i + 1 < n) {
                /* POSIX brackets have no escapes: translate Java's classes, keep the rest
                 * as the literal character. */
                char e = pat[++i];
                if (e == 'd')
                    buf_puts(&b, "0-9");
                else if (e == 's')
                    buf_puts(&b, "[:space:]");
                else if (e == 'w')
                    buf_puts(&b, "[:alnum:]_");
                else if (e == 'n')
                    buf_putc(&b, '\n');
                else if (e == 't')
                    buf_putc(&b, '\t');
                else
                    buf_putc(&b, e);
                continue;
            }
            if (c == ']')
                in_bracket = false;
            buf_putc(&b, c);
            continue;
        }
        if (c == '[') {
            in_bracket = true;
            buf_putc(&b, c);
            if (i + 1 < n && pat[i + 1] == '^')
                buf_putc(&b, pat[++i]);
            if (i + 1 < n && pat[i + 1] == ']')
                buf_putc(&b, pat[++i]);
            continue;
        }
        if (c != '\\' || i + 1 >= n) {
            buf_putc(&b, c);
            continue;
        }
        char e = pat[++i];
        switch (e) {
        case 'd':
            buf_puts(&b, "[0-9]");
            break;
        case 'D':
            buf_puts(&b, "[^0-9]");
            break;
        case 's':
            buf_puts(&b, "[[:space:]]");
            break;
        case 'S':
            buf_puts(&b, "[^[:space:]]");
            break;
        case 'w':
            buf_puts(&b, "[[:alnum:]_]");
            break;
        case 'W':
            buf_puts(&b, "[^[:alnum:]_]");
            break;
        case 'n':
            buf_putc(&b, '\n');
            break;
        case 't':
            buf_putc(&b, '\t');
            break;
        case 'r':
            buf_putc(&b, '\r');
            break;
        default:
            if (e >= '1' && e <= '9') {
                rc = PT_EPARSE; /* back-references: exponential matching */
                goto out;
            }
            if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
                buf_putc(&b, '\\'); /* \b, \B: same meaning in GNU regex */
                buf_putc(&b, e);
            } else if (e == '\'' || e == '`' || e == '<' || e == '>') {
                /* Literal in Java, anchors in GNU regex. */
                buf_putc(&b, '[');
                buf_putc(&b, e);
                buf_putc(&b, ']');
            } else {
                buf_putc(&b, '\\');
                buf_putc(&b, e);
            }
        }
    }
    if (anchored)
        buf_puts(&b, ")$");
    if (regcomp(re, b.p ? b.p : "", REG_EXTENDED) != 0)
        rc = PT_EPARSE;
out:
    buf_free(&b);
    return rc;
}

/* Lambda proxy results (result.c, http_result.c): a scalar as text, a statusCode. */
int route__scalar_text(const json_t *v, char **out)
{
    buf_t b = BUF_INIT;
    switch (json_typeof(v)) {
    case JSON_STRING:
        *out = pt_xmemdup(json_string_value(v), json_string_length(v) + 1);
        return PT_OK;
    case JSON_INTEGER:
    case JSON_REAL:
    case JSON_TRUE:
    case JSON_FALSE:
        route__json_write(&b, v);
        *out = buf_steal(&b, NULL);
        return PT_OK;
    default:
        return PT_EPARSE;
    }
}

int route__parse_status(const json_t *v, int *out)
{
    long long s;
    if (json_is_integer(v)) {
        s = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 100 && d <= 599) || d != (double)(long long)d) /* range first: no UB cast */
            return PT_EPARSE;
        s = (long long)d;
    } else if (json_is_string(v)) {
        const char *p = json_string_value(v);
        size_t n = json_string_length(v);
        if (n == 0 || n > 3)
            return PT_EPARSE;
        s = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] < '0' || p[i] > '9')
                return PT_EPARSE;
            s = s * 10 + (p[i] - '0');
        }
    } else {
        return PT_EPARSE;
    }
    if (s < 100 || s > 599)
        return PT_EPARSE;
    *out = (int)s;
    return PT_OK;
}
