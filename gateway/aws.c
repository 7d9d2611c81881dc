/* aws.c: Portico's own AWS identity: credentials, region and Lambda endpoint, and request signing.
 */
#include "gateway/gw.h"
#include "common/err.h"
#include "common/ini.h"
#include "routes/security.h"
#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Everything is resolved once, at start-up, the way the AWS SDKs find it (docs/lambda.md):
 *
 *   credentials  server.aws.accessKeyId/secretAccessKey/sessionToken
 *                > AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN
 *                > profile AWS_PROFILE (else "default") in AWS_SHARED_CREDENTIALS_FILE
 *                  (else ~/.aws/credentials), then in AWS_CONFIG_FILE (else ~/.aws/config)
 *   region       server.aws.region > AWS_REGION > AWS_DEFAULT_REGION > the profile's region
 *                in the config file > server.region
 *   endpoint     server.aws.lambdaEndpoint > AWS_ENDPOINT_URL_LAMBDA > AWS_ENDPOINT_URL
 *                (both ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true) > the regional
 *                endpoint of each function's region
 *
 * The config file comes first because it is explicit configuration of this process, as client
 * options are in the SDKs; the rest is botocore's order. Credentials are static: temporary ones
 * (a session token) are not refreshed, and SSO, role, process and instance-metadata providers
 * are not implemented.
 *
 * Secrets are never logged: messages name where credentials came from and the key id's first
 * four characters only. Files are read whole, up to 1 MiB, and parsed by common/ini.c.
 */

#define FILE_MAX (1u << 20)

/* An environment variable, or NULL when unset or empty (the SDKs treat "" as unset). */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Reads a whole file. Returns PT_OK, PT_ENOTFOUND (absent), PT_ETOOBIG or PT_EIO. */
static int read_file(const char *path, buf_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? PT_ENOTFOUND : PT_EIO;
    struct stat st;
    int rc = PT_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = PT_EIO;
        goto out;
    }
    if ((uint64_t)st.st_size > FILE_MAX) {
        rc = PT_ETOOBIG;
        goto out;
    }
    buf_reserve(out, (size_t)st.st_size + 1);
    for (;;) {
        buf_reserve(out, 4096);
        ssize_t n = read(fd, out->p + out->len, out->cap - out->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = PT_EIO;
            goto out;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        out->p[out->len] = '\0';
        if (out->len > FILE_MAX) {
            rc = PT_ETOOBIG;
            goto out;
        }
    }
out:
    close(fd);
    return rc;
}

/* "~/.aws/NAME" or the override variable; buf receives the path. False when neither is known. */
static bool shared_path(const char *var, const char *name, buf_t *path)
{
    buf_reset(path);
    const char *v = env(var);
    if (v && v[0] == '~' && v[1] == '/' && env("HOME"))
        buf_printf(path, "%s%s", env("HOME"), v + 1);
    else if (v)
        buf_puts(path, v);
    else if (env("HOME"))
        buf_printf(path, "%s/.aws/%s", env("HOME"), name);
    else
        return false;
    return true;
}

/* Reads a profile from one shared file. A missing file is no error. */
static int load_profile(const char *var, const char *name, bool config_file, const char *profile,
                        ini_aws_profile_t *out, buf_t *err)
{
    buf_t path = BUF_INIT, text = BUF_INIT;
    int line = 0, rc = PT_OK;
    memset(out, 0, sizeof *out);
    if (!shared_path(var, name, &path))
        goto out;
    rc = read_file(path.p, &text);
    if (rc == PT_ENOTFOUND) {
        rc = PT_OK;
        goto out;
    }
    if (rc != PT_OK) {
        buf_printf(err, "cannot read %s: %s", path.p,
                   rc == PT_ETOOBIG ? "larger than 1 MiB" : strerror(errno));
        goto out;
    }
    rc = ini_aws_profile(text.p ? text.p : "", text.len, profile, config_file, out, &line);
    if (rc != PT_OK) /* the line is not quoted: it may hold a secret */
        buf_printf(err, "%s:%d: malformed line (or a value that is not on one line)", path.p, line);
out:
    if (text.p)
        OPENSSL_cleanse(text.p, text.len);
    buf_free(&text);
    buf_free(&path);
    return rc;
}

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = v ? pt_xstrdup(v) : NULL;
}

static void wipe(char **slot)
{
    if (*slot) {
        OPENSSL_cleanse(*slot, strlen(*slot));
        free(*slot);
        *slot = NULL;
    }
}

/* True when some AWS_PROXY integration of some stage names a Lambda function. */
static bool uses_lambda(const route_config_t *cfg)
{
    bool found = false;
    buf_t u = BUF_INIT;
    for (size_t i = 0; i < cfg->napis && !found; i++) {
        const route_api_t *api = &cfg->apis[i];
        for (size_t j = 0; j < api->nintegrations && !found; j++) {
            const route_integration_t *g = &api->integrations[j];
            if (g->type != ROUTE_INTEG_AWS_PROXY || !g->uri)
                continue;
            for (size_t k = 0; k < (api->nstages ? api->nstages : 1) && !found; k++) {
                buf_reset(&u);
                route_subst_stage_vars(g->uri, api->nstages ? &api->stages[k] : NULL, &u);
                found = route_lambda_is_ref(u.p);
            }
        }
        /* Issue 7: a REQUEST authorizer that names a function is a Lambda Invoke too. */
        for (size_t j = 0; j < api->nauthorizers && !found; j++) {
            const struct route_authorizer *a = &api->authorizers[j];
            for (size_t k = 0; a->uri && k < (api->nstages ? api->nstages : 1) && !found; k++) {
                buf_reset(&u);
                route_subst_stage_vars(a->uri, api->nstages ? &api->stages[k] : NULL, &u);
                found = route_lambda_is_ref(u.p);
            }
        }
    }
    buf_free(&u);
    return found;
}

int gw_aws_init(gw_aws_t *a, const route_config_t *cfg, buf_t *err)
{
    const route_aws_t *c = &cfg->server.aws;
    ini_aws_profile_t cred_file, conf_file;
    const char *profile = env("AWS_PROFILE");
    buf_t ep = BUF_INIT;
    int rc = PT_OK;

    memset(a, 0, sizeof *a);
    memset(&cred_file, 0, sizeof cred_file);
    memset(&conf_file, 0, sizeof conf_file);
    a->needed = uses_lambda(cfg);
    if (!a->needed) {
        /* Nothing invokes a function: the environment is not ours to judge. */
        set_str(&a->region, c->region ? c->region : cfg->server.region);
        a->lambda.region = a->region;
        a->lambda.endpoint = c->lambda_endpoint;
        return PT_OK;
    }

    /* Credentials. */
    if (c->access_key_id) {
        set_str(&a->access_key_id, c->access_key_id);
        set_str(&a->secret_access_key, c->secret_access_key);
        set_str(&a->session_token, c->session_token);
        a->cred_source = "the config file (server.aws)";
    } else if (env("AWS_ACCESS_KEY_ID") || env("AWS_SECRET_ACCESS_KEY")) {
        if (!env("AWS_ACCESS_KEY_ID") || !env("AWS_SECRET_ACCESS_KEY")) {
            buf_puts(err, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
            rc = PT_EINVAL;
            goto fail;
        }
        set_str(&a->access_key_id, env("AWS_ACCESS_KEY_ID"));
        set_str(&a->secret_access_key, env("AWS_SECRET_ACCESS_KEY"));
        set_str(&a->session_token, env("AWS_SESSION_TOKEN"));
        a->cred_source = "the environment (AWS_ACCESS_KEY_ID)";
    }
    /* The shared files are read when they can still contribute: credentials, or a region. */
    bool want_region = !c->region && !env("AWS_REGION") && !env("AWS_DEFAULT_REGION");
    if (!a->access_key_id || want_region) {
        const char *pname = profile ? profile : "default";
        rc = load_profile("AWS_SHARED_CREDENTIALS_FILE", "credentials", false, pname, &cred_file,
                          err);
        if (rc == PT_OK)
            rc = load_profile("AWS_CONFIG_FILE", "config", true, pname, &conf_file, err);
        if (rc != PT_OK)
            goto fail;
        if (profile && !cred_file.found && !conf_file.found && !a->access_key_id) {
            buf_printf(err,
                       "AWS_PROFILE=%s: no such profile in the shared credentials or config "
                       "file",
                       profile);
            rc = PT_ENOTFOUND;
            goto fail;
        }
        const ini_aws_profile_t *src = NULL;
        if (cred_file.access_key_id || cred_file.secret_access_key)
            src = &cred_file;
        else if (conf_file.access_key_id || conf_file.secret_access_key)
            src = &conf_file;
        if (!a->access_key_id && src) {
            if (!src->access_key_id || !src->secret_access_key) {
                buf_printf(err,
                           "profile %s has only one of aws_access_key_id and "
                           "aws_secret_access_key",
                           pname);
                rc = PT_EINVAL;
                goto fail;
            }
            set_str(&a->access_key_id, src->access_key_id);
            set_str(&a->secret_access_key, src->secret_access_key);
            set_str(&a->session_token, src->session_token);
            a->cred_source =
                src == &cred_file ? "the shared credentials file" : "the shared config file";
            snprintf(a->profile, sizeof a->profile, "%s", pname);
        } else if (!a->access_key_id && (cred_file.found || conf_file.found) && profile) {
            buf_printf(err,
                       "profile %s has no aws_access_key_id/aws_secret_access_key (SSO, "
                       "role, process and web-identity profiles are not supported)",
                       pname);
            rc = PT_EUNSUPPORTED;
            goto fail;
        }
    }

    /* Region. */
    const char *region = c->region                   ? c->region
                         : env("AWS_REGION")         ? env("AWS_REGION")
                         : env("AWS_DEFAULT_REGION") ? env("AWS_DEFAULT_REGION")
                         : conf_file.region          ? conf_file.region
                                                     : cfg->server.region;
    set_str(&a->region, region ? region : "us-east-1");
    for (const char *r = a->region; *r; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-')) {
            buf_printf(err, "region \"%s\" is not a region name", a->region);
            rc = PT_EINVAL;
            goto fail;
        }

    /* Endpoint. */
    const char *ign = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    bool use_env = !(ign && strcasecmp(ign, "true") == 0);
    const char *epv = c->lambda_endpoint                          ? c->lambda_endpoint
                      : use_env && env("AWS_ENDPOINT_URL_LAMBDA") ? env("AWS_ENDPOINT_URL_LAMBDA")
                      : use_env && env("AWS_ENDPOINT_URL")        ? env("AWS_ENDPOINT_URL")
                                                                  : NULL;
    if (epv) {
        buf_t why = BUF_INIT;
        if (route_lambda_endpoint_norm(epv, &ep, &why) != PT_OK) {
            buf_printf(err, "Lambda endpoint %s: %s", epv, why.p);
            buf_free(&why);
            rc = PT_EINVAL;
            goto fail;
        }
        buf_free(&why);
        a->endpoint = buf_steal(&ep, NULL);
    }

    if (!a->access_key_id && !a->endpoint) {
        buf_puts(err, "an AWS_PROXY integration invokes a Lambda function, but no AWS credentials "
                      "were found (server.aws, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a "
                      "profile in ~/.aws/credentials; see docs/lambda.md)");
        rc = PT_ENOTFOUND;
        goto fail;
    }
    a->lambda.region = a->region;
    a->lambda.endpoint = a->endpoint;
    rc = PT_OK;
    goto out;
fail:
    gw_aws_dispose(a);
out:
    ini_aws_profile_free(&cred_file);
    ini_aws_profile_free(&conf_file);
    buf_free(&ep);
    return rc;
}

void gw_aws_log(const gw_aws_t *a)
{
    if (!a->needed)
        return;
    const char *ep = a->endpoint ? a->endpoint : "AWS (https://lambda.{region}.amazonaws.com)";
    if (!a->access_key_id) {
        LOG_WARN("lambda: no AWS credentials found: Invoke requests to %s go unsigned", ep);
        return;
    }
    /* The key id's first four characters say which kind it is (AKIA long-term, ASIA
     * temporary) without identifying it. */
    LOG_INFO("lambda: credentials %.4s... from %s%s%s%s, region %s, endpoint %s", a->access_key_id,
             a->cred_source, a->profile[0] ? " (profile " : "", a->profile,
             a->profile[0] ? ")" : "", a->region, ep);
}

void gw_aws_dispose(gw_aws_t *a)
{
    wipe(&a->access_key_id);
    wipe(&a->secret_access_key);
    wipe(&a->session_token);
    free(a->region);
    free(a->endpoint);
    memset(a, 0, sizeof *a);
}

int gw_aws_sign(const gw_aws_t *a, sigv4_cache_t *cache, route_http_req_t *hr, int64_t now,
                buf_t *err)
{
    http_header_t h[8];
    size_t nh = 0;
    if (!hr->sign_service)
        return PT_OK;
    if (!a->access_key_id)
        return PT_OK; /* no credentials: only allowed with an endpoint override (a local runtime) */
    const char *auth = hr->url ? strstr(hr->url, "://") : NULL;
    if (!auth) {
        buf_puts(err, "cannot sign: the URL has no authority");
        return PT_EINVAL;
    }
    auth += 3;
    size_t alen = strcspn(auth, "/");
    char host[300];
    if (alen == 0 || alen >= sizeof host) {
        buf_puts(err, "cannot sign: the URL's host is empty or too long");
        return PT_EINVAL;
    }
    memcpy(host, auth, alen);
    host[alen] = '\0';
    const char *target = auth + alen;
    /* Every header the request carries is signed, except Host (the signer adds it from host,
     * which is the value of the Host line route_lambda_request wrote). */
    const char *p = hr->headers.p ? hr->headers.p : "";
    const char *end = p + hr->headers.len;
    while (p < end && nh < PT_ARRAY_LEN(h)) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *e = eol ? eol : end;
        const char *next = eol ? eol + 1 : end;
        if (e > p && e[-1] == '\r')
            e--;
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (colon && !(colon - p == 4 && strncasecmp(p, "host", 4) == 0)) {
            const char *v = colon + 1;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            h[nh].name = p;
            h[nh].name_len = (size_t)(colon - p);
            h[nh].value = v;
            h[nh].value_len = (size_t)(e - v);
            nh++;
        }
        p = next;
    }
    sigv4_sign_params_t sp = {
        .access_key_id = a->access_key_id,
        .secret_access_key = a->secret_access_key,
        .session_token = a->session_token,
        .region = hr->sign_region ? hr->sign_region : a->region,
        .service = hr->sign_service,
        .now = now,
        .method = hr->method ? hr->method : "POST",
        .host = host,
        .target = *target ? target : "/",
        .headers = h,
        .nheaders = nh,
        .body = hr->body,
        .body_len = hr->body ? hr->body_len : 0,
        .cache = cache,
    };
    buf_t add = BUF_INIT;
    int rc = sigv4_sign(&sp, &add);
    if (rc != PT_OK)
        buf_puts(err, "cannot sign the request (a header or the region is not signable)");
    else
        buf_append(&hr->headers, add.p ? add.p : "", add.len);
    buf_free(&add);
    return rc;
}
