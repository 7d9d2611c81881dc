/* lambda.c: Lambda Invoke requests for AWS_PROXY integrations that name a function (issue 5). */
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * What is decided here, and why (docs/lambda.md has the user's view):
 *
 * - The Invoke API is POST /2015-03-31/functions/{FunctionName}/invocations, with the function
 *   as a name, a partial or a full ARN, optionally ending in ":{qualifier}", and an optional
 *   ?Qualifier= (Lambda API reference, Invoke). botocore percent-encodes the FunctionName path
 *   label with only A-Z a-z 0-9 - . _ ~ left as they are (':' becomes %3A) and the Qualifier
 *   query value the same way ('$' becomes %24); route__pct_encode encodes exactly that set, so
 *   the wire path and the signature match what an AWS SDK would send.
 * - AWS resolves every form, so AWS endpoints get the function as the user named it.
 *   serverless-offline 13 finds functions only by their bare name and answers 404 to an ARN or
 *   to "name:alias", while it accepts (and ignores) ?Qualifier= (local-lambda.md), and
 *   LocalStack accepts the bare name too: any endpoint that is not under amazonaws.com gets the
 *   name and ?Qualifier=.
 * - The signing region is the function's own (from its ARN), else the configured one, as the
 *   SDKs do for a client of that region.
 */

#define NAME_MAX_LEN 64  /* Lambda: function names are 1-64 characters */
#define QUAL_MAX_LEN 128 /* Lambda: Qualifier is 1-128 characters */

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static bool span_ok(const char *s, size_t n, size_t max, bool qualifier)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)s[i]) && !(qualifier && s[i] == '$'))
            return false;
    return true;
}

/* Region names: lower-case letters, digits and '-' ("us-east-1", "us-gov-west-1"). */
static bool region_ok(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* Accounts are 12 digits on AWS; emulators use "000000000000". Letters and '-' are tolerated
 * (the value is only echoed back to the endpoint, percent-encoded). */
static bool account_ok(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)s[i]))
            return false;
    return true;
}

bool route_lambda_is_ref(const char *uri)
{
    return uri && strncasecmp(uri, "http://", 7) != 0 && strncasecmp(uri, "https://", 8) != 0;
}

void route_lambda_ref_free(route_lambda_ref_t *r)
{
    free(r->function);
    free(r->name);
    free(r->qualifier);
    free(r->region);
    free(r->account);
    memset(r, 0, sizeof *r);
}

/* Splits s[0..n) at ':' into at most max fields; returns the count, or max + 1 when there are
 * more. */
static size_t split_colon(const char *s, size_t n, const char **f, size_t *fl, size_t max)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ':')
            continue;
        if (k == max)
            return max + 1;
        f[k] = s + start;
        fl[k] = i - start;
        k++;
        start = i + 1;
    }
    return k;
}

/* name[:qualifier] from fields f[0..nf) (nf is 1 or 2). */
static int take_name(route_lambda_ref_t *out, const char *const *f, const size_t *fl, size_t nf,
                     buf_t *err)
{
    if (!span_ok(f[0], fl[0], NAME_MAX_LEN, false)) {
        buf_printf(err, "function name \"%.*s\" is not 1 to 64 letters, digits, '-' or '_'",
                   (int)(fl[0] > 80 ? 80 : fl[0]), f[0]);
        return PT_EINVAL;
    }
    if (nf == 2 && !span_ok(f[1], fl[1], QUAL_MAX_LEN, true)) {
        buf_printf(err, "qualifier \"%.*s\" is not 1 to 128 letters, digits, '$', '-' or '_'",
                   (int)(fl[1] > 80 ? 80 : fl[1]), f[1]);
        return PT_EINVAL;
    }
    out->name = pt_xstrndup(f[0], fl[0]);
    if (nf == 2)
        out->qualifier = pt_xstrndup(f[1], fl[1]);
    return PT_OK;
}

/* arn:{partition}:lambda:{region}:{account}:function:{name}[:{qualifier}] */
static int parse_function_arn(const char *s, size_t n, route_lambda_ref_t *out, buf_t *err)
{
    const char *f[8];
    size_t fl[8];
    size_t nf = split_colon(s, n, f, fl, 8);
    if (nf < 7 || nf > 8 || fl[0] != 3 || memcmp(f[0], "arn", 3) != 0 || fl[1] < 3 ||
        memcmp(f[1], "aws", 3) != 0 || fl[2] != 6 || memcmp(f[2], "lambda", 6) != 0 || fl[5] != 8 ||
        memcmp(f[5], "function", 8) != 0) {
        buf_puts(err, "not a Lambda function ARN (arn:aws:lambda:{region}:{account}:function:"
                      "{name}[:{qualifier}])");
        return PT_EINVAL;
    }
    for (size_t i = 3; i < fl[1]; i++)
        if (!((f[1][i] >= 'a' && f[1][i] <= 'z') || f[1][i] == '-')) {
            buf_printf(err, "partition \"%.*s\" is not aws, aws-cn, aws-us-gov...", (int)fl[1],
                       f[1]);
            return PT_EINVAL;
        }
    if (!region_ok(f[3], fl[3])) {
        buf_printf(err, "region \"%.*s\" in the function ARN is not a region name",
                   (int)(fl[3] > 40 ? 40 : fl[3]), f[3]);
        return PT_EINVAL;
    }
    if (!account_ok(f[4], fl[4])) {
        buf_printf(err, "account \"%.*s\" in the function ARN is not an account id",
                   (int)(fl[4] > 40 ? 40 : fl[4]), f[4]);
        return PT_EINVAL;
    }
    int rc = take_name(out, f + 6, fl + 6, nf - 6, err);
    if (rc != PT_OK)
        return rc;
    out->region = pt_xstrndup(f[3], fl[3]);
    out->account = pt_xstrndup(f[4], fl[4]);
    out->function = pt_xstrndup(s, n);
    return PT_OK;
}

int route_lambda_parse(const char *ref, route_lambda_ref_t *out, buf_t *err)
{
    static const char fns[] = ":lambda:path/2015-03-31/functions/";
    static const char inv[] = "/invocations";
    buf_t noerr = BUF_INIT; /* stands in when the caller wants no message */
    size_t n = ref ? strlen(ref) : 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (!err)
        err = &noerr;
    if (n == 0) {
        buf_puts(err, "the function reference is empty");
        rc = PT_EINVAL;
        goto fail;
    }
    if (strncmp(ref, "arn:", 4) == 0) {
        /* An API Gateway invoke ARN wraps the function ARN: its own region is API Gateway's,
         * the function's region is in the function ARN. */
        const char *colon2 = strchr(ref + 4, ':');
        const char *svc = colon2 ? colon2 + 1 : NULL;
        if (svc && strncmp(svc, "apigateway:", 11) == 0) {
            const char *f = strstr(svc, fns);
            size_t ni = sizeof inv - 1;
            if (!f || n < ni || strcmp(ref + n - ni, inv) != 0 ||
                !region_ok(svc + 11, (size_t)(f - svc - 11))) {
                buf_puts(err, "not an API Gateway invoke ARN (arn:aws:apigateway:{region}:lambda:"
                              "path/2015-03-31/functions/{function ARN}/invocations)");
                rc = PT_EINVAL;
                goto fail;
            }
            const char *arn = f + sizeof fns - 1;
            const char *end = ref + n - ni;
            if (end <= arn) {
                buf_puts(err, "the invoke ARN names no function");
                rc = PT_EINVAL;
                goto fail;
            }
            rc = parse_function_arn(arn, (size_t)(end - arn), out, err);
        } else {
            rc = parse_function_arn(ref, n, out, err);
        }
        if (rc != PT_OK)
            goto fail;
        return PT_OK;
    }
    const char *f[2];
    size_t fl[2];
    size_t nf = split_colon(ref, n, f, fl, 2);
    if (nf > 2) {
        buf_puts(err, "a function name takes at most one \":qualifier\" (write a full ARN "
                      "for anything else)");
        rc = PT_EINVAL;
        goto fail;
    }
    rc = take_name(out, f, fl, nf, err);
    if (rc != PT_OK)
        goto fail;
    out->function = pt_xstrndup(ref, n);
    buf_free(&noerr);
    return PT_OK;
fail:
    route_lambda_ref_free(out);
    buf_free(&noerr);
    return rc;
}

/* ---- endpoints ------------------------------------------------------------------------------ */

int route_lambda_endpoint_norm(const char *url, buf_t *out, buf_t *err)
{
    buf_t noerr = BUF_INIT;
    if (!err)
        err = &noerr;
    size_t skip = 0;
    if (url && strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (url && strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    if (!skip) {
        buf_puts(err, "the Lambda endpoint must be an http:// or https:// URL");
        goto fail;
    }
    const char *auth = url + skip;
    size_t alen = strcspn(auth, "/");
    size_t n = strlen(url);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '\\') {
            buf_puts(err, "the Lambda endpoint must not hold spaces, control characters, a query "
                          "or a fragment");
            goto fail;
        }
    }
    if (alen == 0 || memchr(auth, '@', alen)) {
        buf_puts(err, "the Lambda endpoint needs a host and no user info");
        goto fail;
    }
    if (alen > 261) { /* a 253-character name, ':' and a port, or a bracketed IPv6 address */
        buf_puts(err, "the Lambda endpoint's host is too long");
        goto fail;
    }
    /* host[:port] or [v6]:port; the port is digits only. */
    const char *colon = NULL;
    if (auth[0] == '[') {
        const char *rb = memchr(auth, ']', alen);
        if (!rb || rb == auth + 1) {
            buf_puts(err, "the Lambda endpoint has a malformed IPv6 address");
            goto fail;
        }
        if ((size_t)(rb + 1 - auth) < alen) {
            if (rb[1] != ':') {
                buf_puts(err, "the Lambda endpoint has a malformed IPv6 address");
                goto fail;
            }
            colon = rb + 1;
        }
    } else {
        colon = memchr(auth, ':', alen);
        if (colon == auth) {
            buf_puts(err, "the Lambda endpoint needs a host");
            goto fail;
        }
    }
    if (colon) {
        size_t pl = alen - (size_t)(colon + 1 - auth);
        if (pl == 0 || pl > 5 || strspn(colon + 1, "0123456789") < pl ||
            strtol(colon + 1, NULL, 10) > 65535) {
            buf_puts(err, "the Lambda endpoint's port is not a number in [0, 65535]");
            goto fail;
        }
    }
    size_t end = n;
    while (end > skip + alen && url[end - 1] == '/')
        end--;
    buf_puts(out, skip == 7 ? "http://" : "https://");
    buf_append(out, url + skip, end - skip);
    buf_free(&noerr);
    return PT_OK;
fail:
    buf_free(&noerr);
    return PT_EINVAL;
}

/* True when the endpoint's host is AWS's (ends in .amazonaws.com or .amazonaws.com.cn). */
static bool endpoint_is_aws(const char *ep)
{
    const char *auth = strstr(ep, "://");
    auth = auth ? auth + 3 : ep;
    size_t alen = strcspn(auth, "/");
    const char *colon = auth[0] == '[' ? NULL : memchr(auth, ':', alen);
    size_t hl = colon ? (size_t)(colon - auth) : alen;
    static const char *const sfx[] = {".amazonaws.com", ".amazonaws.com.cn"};
    for (size_t i = 0; i < PT_ARRAY_LEN(sfx); i++) {
        size_t sl = strlen(sfx[i]);
        if (hl > sl && strncasecmp(auth + hl - sl, sfx[i], sl) == 0)
            return true;
    }
    return false;
}

int route_lambda_request(const char *uri, const route_stage_t *stage, const route_lambda_env_t *env,
                         route_http_req_t *out, buf_t *err)
{
    buf_t ref = BUF_INIT, url = BUF_INIT, hdr = BUF_INIT, noerr = BUF_INIT;
    route_lambda_ref_t fn;
    int rc;

    memset(out, 0, sizeof *out);
    memset(&fn, 0, sizeof fn);
    if (!err)
        err = &noerr;
    route_subst_stage_vars(uri ? uri : "", stage, &ref);
    if (!route_lambda_is_ref(ref.p)) {
        buf_puts(err, "the integrationUri does not name a Lambda function");
        rc = PT_EINVAL;
        goto fail;
    }
    rc = route_lambda_parse(ref.p, &fn, err);
    if (rc != PT_OK)
        goto fail;
    const char *region = fn.region                            ? fn.region
                         : env && env->region && *env->region ? env->region
                                                              : "us-east-1";
    bool aws;
    if (env && env->endpoint && *env->endpoint) {
        buf_puts(&url, env->endpoint);
        aws = endpoint_is_aws(env->endpoint);
    } else {
        buf_printf(&url, "https://lambda.%s.amazonaws.com%s", region,
                   strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
        aws = true;
    }
    /* Host, exactly as the URL's authority: curl then sends this very value, which is the one
     * the signature covers. */
    const char *auth = strstr(url.p, "://");
    if (!auth) {
        buf_puts(err, "the Lambda endpoint is not an http(s) URL");
        rc = PT_EINVAL;
        goto fail;
    }
    auth += 3;
    buf_printf(&hdr, "Host: %.*s\r\nContent-Type: application/json\r\n", (int)strcspn(auth, "/"),
               auth);
    buf_puts(&url, "/2015-03-31/functions/");
    if (aws) {
        route__pct_encode(&url, fn.function, strlen(fn.function));
        buf_puts(&url, "/invocations");
    } else {
        route__pct_encode(&url, fn.name, strlen(fn.name));
        buf_puts(&url, "/invocations");
        if (fn.qualifier) {
            buf_puts(&url, "?Qualifier=");
            route__pct_encode(&url, fn.qualifier, strlen(fn.qualifier));
        }
    }
    out->method = pt_xstrdup("POST");
    out->url = buf_steal(&url, NULL);
    out->headers = hdr;
    hdr = (buf_t)BUF_INIT;
    out->sign_service = pt_xstrdup("lambda");
    out->sign_region = pt_xstrdup(region);
    rc = PT_OK;
    goto out;
fail:
    route_http_req_free(out);
out:
    route_lambda_ref_free(&fn);
    buf_free(&ref);
    buf_free(&url);
    buf_free(&hdr);
    buf_free(&noerr);
    return rc;
}
