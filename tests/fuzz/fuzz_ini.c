/* fuzz_ini.c: the AWS shared config/credentials INI parser and profile lookup (common/ini.c). */
/*
 * Input format: the whole input is a file's bytes (~/.aws/credentials or ~/.aws/config).
 *
 * For each input: ini_parse with a callback that checks every entry, then ini_aws_profile for
 * "default" and "dev" as a credentials file and as a config file. Invariants: sections, keys and
 * values lie inside the input, keys are non-empty and hold no '=', ':' or '\n', values and
 * section names hold no '\n', line numbers grow and never pass the input's line count; an error
 * line is within the input; a profile's values hold no control character; no crash, leak or
 * undefined behaviour.
 */
#include "common/err.h"
#include "common/ini.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct walk {
    const char *base;
    size_t size;
    int lines;
    int last;
} walk_t;

static void inside(const walk_t *w, const char *p, size_t n)
{
    if (n && (p < w->base || p + n > w->base + w->size))
        abort();
}

static int check(void *ctx, const char *s, size_t sl, const char *k, size_t kl, const char *v,
                 size_t vl, bool continued, int line)
{
    walk_t *w = ctx;
    (void)continued;
    inside(w, s, sl);
    inside(w, k, kl);
    inside(w, v, vl);
    if (!s || kl == 0 || memchr(k, '=', kl) || memchr(k, ':', kl) || memchr(k, '\n', kl) ||
        memchr(v, '\n', vl) || memchr(s, '\n', sl))
        abort();
    if (line <= w->last || line > w->lines)
        abort();
    w->last = line;
    return 0;
}

static void profile_ok(const ini_aws_profile_t *p)
{
    const char *v[] = {p->access_key_id, p->secret_access_key, p->session_token, p->region};
    for (size_t i = 0; i < 4; i++)
        for (const char *c = v[i]; c && *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    walk_t w = {text, size, 1, 0};
    for (size_t i = 0; i < size; i++)
        w.lines += data[i] == '\n';
    int line = -1;
    int rc = ini_parse(text, size, check, &w, &line);
    if (rc == PT_OK ? line != 0 : (rc != PT_EPARSE || line < 1 || line > w.lines))
        abort();
    static const char *const names[] = {"default", "dev"};
    for (int cf = 0; cf < 2; cf++)
        for (size_t i = 0; i < 2; i++) {
            ini_aws_profile_t p;
            rc = ini_aws_profile(text, size, names[i], cf, &p, &line);
            if (rc == PT_OK)
                profile_ok(&p);
            else if (rc != PT_EPARSE || p.found || p.access_key_id)
                abort();
            ini_aws_profile_free(&p);
        }
    return 0;
}
