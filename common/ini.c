/* ini.c: the INI dialect of AWS's shared config and credentials files (see ini.h). */
#include "common/ini.h"
#include "common/err.h"
#include "common/mem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Python's str.strip() and \S treat these as blanks (ASCII part). */
static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_blank((*s)[*n - 1]))
        (*n)--;
}

int ini_parse(const char *text, size_t len, ini_entry_cb cb, void *ctx, int *err_line)
{
    const char *p = text ? text : "";
    const char *end = p + (text ? len : 0);
    const char *sect = NULL; /* current section name; NULL before the first header */
    size_t sect_len = 0;
    bool have_key = false; /* a key was read in this section: deeper lines continue it */
    size_t indent_level = 0;
    /* The entry of the last key line, reported once we know whether lines continue it. */
    const char *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    int kline = 0;
    bool continued = false;
    int line = 0, rc = PT_OK;

    if (err_line)
        *err_line = 0;
    if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
#define FLUSH()                                                                                    \
    do {                                                                                           \
        if (k) {                                                                                   \
            rc = cb(ctx, sect, sect_len, k, kl, v, vl, continued, kline);                          \
            k = NULL;                                                                              \
            if (rc != 0)                                                                           \
                return rc;                                                                         \
        }                                                                                          \
    } while (0)
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *s = p;
        size_t n = (size_t)(le - p);
        p = nl ? nl + 1 : end;
        line++;
        size_t indent = 0;
        while (indent < n && is_blank(s[indent]))
            indent++;
        trim(&s, &n);
        if (n == 0 || s[0] == '#' || s[0] == ';')
            continue; /* blank lines and comments neither end nor start anything */
        if (have_key && indent > indent_level) {
            continued = true; /* a nested setting of the key above: skipped */
            continue;
        }
        indent_level = indent;
        if (s[0] == '[') {
            /* configparser's \[(?P<header>.+)\] is not anchored at the end: the name runs to
             * the last ']' and anything after it is ignored. */
            const char *rb = NULL;
            for (size_t i = n; i > 1; i--)
                if (s[i - 1] == ']') {
                    rb = s + i - 1;
                    break;
                }
            if (!rb || rb == s + 1) {
                FLUSH();
                if (err_line)
                    *err_line = line;
                return PT_EPARSE;
            }
            FLUSH();
            sect = s + 1;
            sect_len = (size_t)(rb - sect);
            have_key = false;
            continue;
        }
        size_t d = 0;
        while (d < n && s[d] != '=' && s[d] != ':')
            d++;
        const char *key = s, *val = s + d + 1;
        size_t klen = d, vlen = d < n ? n - d - 1 : 0;
        trim(&key, &klen);
        trim(&val, &vlen);
        if (!sect || d == n || klen == 0) {
            FLUSH();
            if (err_line)
                *err_line = line;
            return PT_EPARSE;
        }
        FLUSH();
        k = key;
        kl = klen;
        v = val;
        vl = vlen;
        kline = line;
        continued = false;
        have_key = true;
    }
    FLUSH();
#undef FLUSH
    return PT_OK;
}

/* ---- AWS profiles -------------------------------------------------------------------------- */

typedef struct profile_walk {
    const char *profile;
    bool config_file;
    ini_aws_profile_t *out;
    int bad_line; /* a value we cannot use */
} profile_walk_t;

/* Does section name s[0..n) hold the wanted profile? Config files name profiles
 * "profile NAME" (botocore splits with shlex, so NAME may be quoted) and accept "default"
 * bare; credentials files use the name alone. */
static bool section_is(const profile_walk_t *w, const char *s, size_t n)
{
    size_t pl = strlen(w->profile);
    if (!w->config_file || (n == 7 && memcmp(s, "default", 7) == 0))
        return n == pl && memcmp(s, w->profile, pl) == 0;
    if (n < 8 || memcmp(s, "profile", 7) != 0 || !is_blank(s[7]))
        return false;
    const char *name = s + 8;
    size_t nl = n - 8;
    trim(&name, &nl);
    if (nl >= 2 && (name[0] == '"' || name[0] == '\'') && name[nl - 1] == name[0]) {
        name++; /* a quoted name may hold blanks */
        nl -= 2;
    } else {
        for (size_t i = 0; i < nl; i++)
            if (is_blank(name[i]))
                return false; /* "profile a b" is three words: not a profile (botocore) */
    }
    return nl == pl && memcmp(name, w->profile, pl) == 0;
}

static void set_secret(char **slot, const char *v, size_t n)
{
    if (*slot) {
        OPENSSL_cleanse(*slot, strlen(*slot));
        free(*slot);
    }
    *slot = pt_xstrndup(v, n);
}

static int on_entry(void *ctx, const char *sect, size_t sl, const char *key, size_t kl,
                    const char *val, size_t vl, bool continued, int line)
{
    profile_walk_t *w = ctx;
    if (!section_is(w, sect, sl))
        return 0;
    w->out->found = true;
    static const char *const names[] = {"aws_access_key_id", "aws_secret_access_key",
                                        "aws_session_token", "region"};
    char **slots[] = {&w->out->access_key_id, &w->out->secret_access_key, &w->out->session_token,
                      &w->out->region};
    for (size_t i = 0; i < 4; i++) {
        if (kl != strlen(names[i]) || strncasecmp(key, names[i], kl) != 0)
            continue;
        bool ok = !continued;
        for (size_t j = 0; ok && j < vl; j++)
            ok = (unsigned char)val[j] >= 0x20 && (unsigned char)val[j] != 0x7f;
        if (!ok) {
            w->bad_line = line;
            return PT_EPARSE;
        }
        set_secret(slots[i], val, vl);
    }
    return 0;
}

void ini_aws_profile_free(ini_aws_profile_t *p)
{
    char **slots[] = {&p->access_key_id, &p->secret_access_key, &p->session_token, &p->region};
    for (size_t i = 0; i < 4; i++)
        if (*slots[i]) {
            OPENSSL_cleanse(*slots[i], strlen(*slots[i]));
            free(*slots[i]);
        }
    memset(p, 0, sizeof *p);
}

int ini_aws_profile(const char *text, size_t len, const char *profile, bool config_file,
                    ini_aws_profile_t *out, int *err_line)
{
    profile_walk_t w = {profile ? profile : "default", config_file, out, 0};
    int line = 0;
    memset(out, 0, sizeof *out);
    int rc = ini_parse(text, len, on_entry, &w, &line);
    if (rc == PT_OK)
        return PT_OK;
    if (err_line)
        *err_line = w.bad_line ? w.bad_line : line;
    ini_aws_profile_free(out);
    return PT_EPARSE;
}
