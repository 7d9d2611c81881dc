/* result.c: Lambda proxy results (spec 6.5; the REST v1 proxy response format). */
#include "routes/route_internal.h"
#include "common/b64.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * What counts as a well-formed result follows API Gateway's REST v1 "Malformed Lambda proxy
 * response" rules, which WebSocket APIs share (spec 6.5), as LocalStack's AWS-validated
 * implementation and public AWS execution logs show them:
 *
 * - The payload must be a JSON object. null (a handler that returned nothing), arrays, strings
 *   and numbers are malformed (PT_EPARSE).
 * - Only statusCode, headers, multiValueHeaders, body and isBase64Encoded may appear; any other
 *   key is malformed (AWS logs "Malformed Lambda proxy response" for a "statusDescription" key,
 *   and the function-error envelope {errorMessage, errorType, ...} fails the same way).
 * - statusCode: an integer, or a string holding one ({"statusCode": "201"} is accepted by AWS,
 *   as verified by LocalStack against AWS); a real with an integral value is taken too (Java
 *   reads 200.0 as 200). It must lie in 100..599. Absent: status_code is -1 (the outcome
 *   treats it as 200, as AWS does).
 * - body: a string, or null/absent for none. Numbers and booleans are taken as their JSON text
 *   (Jackson coerces scalars to String) [U]; an object or array body is malformed (AWS: 502,
 *   "Malformed Lambda proxy response" for "body": {...}).
 * - headers: an object of scalars (strings; numbers and booleans as their text). null values
 *   are dropped; object/array values are malformed. multiValueHeaders: an object of arrays of
 *   such scalars.
 * - isBase64Encoded: a boolean (or null, or the strings "true"/"false", which Jackson also
 *   reads); with true, body is base64-decoded, and an undecodable body is malformed.
 */

/* Copies a headers object with every value turned into a string (NULL values dropped). */
static int parse_headers(const json_t *v, json_t **out)
{
    const char *k;
    size_t kl;
    json_t *x;
    json_t *h = json_object(); /* owned: handed to *out on success */
    json_object_keylen_foreach((json_t *)v, k, kl, x)
    {
        char *s;
        if (json_is_null(x))
            continue;
        if (route__scalar_text(x, &s) != PT_OK) {
            json_decref(h);
            return PT_EPARSE;
        }
        json_object_setn_new_nocheck(h, k, kl, json_string_nocheck(s));
        free(s);
    }
    *out = h;
    return PT_OK;
}

static int parse_mv_headers(const json_t *v, json_t **out)
{
    const char *k;
    size_t kl;
    json_t *x;
    json_t *h = json_object(); /* owned: handed to *out on success */
    json_object_keylen_foreach((json_t *)v, k, kl, x)
    {
        if (json_is_null(x))
            continue;
        if (!json_is_array(x))
            goto fail;
        json_t *arr = json_array();
        json_object_setn_new_nocheck(h, k, kl, arr);
        for (size_t i = 0; i < json_array_size(x); i++) {
            char *s;
            const json_t *e = json_array_get(x, i);
            if (json_is_null(e))
                continue;
            if (route__scalar_text(e, &s) != PT_OK)
                goto fail;
            json_array_append_new(arr, json_string_nocheck(s));
            free(s);
        }
    }
    *out = h;
    return PT_OK;
fail:
    json_decref(h);
    return PT_EPARSE;
}

void route_proxy_result_free(route_proxy_result_t *res)
{
    free(res->body);
    if (res->headers)
        json_decref(res->headers);
    if (res->multi_value_headers)
        json_decref(res->multi_value_headers);
    memset(res, 0, sizeof *res);
    res->status_code = -1;
}

int route_proxy_result_parse(const char *text, size_t len, route_proxy_result_t *res)
{
    json_t *root = NULL;
    const char *k;
    size_t kl;
    json_t *v;
    const json_t *body = NULL;
    int rc = PT_OK;

    memset(res, 0, sizeof *res);
    res->status_code = -1;
    root = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    if (!root || !json_is_object(root)) {
        rc = PT_EPARSE;
        goto fail;
    }
    json_object_keylen_foreach(root, k, kl, v)
    {
#define KEY(lit) (kl == sizeof(lit) - 1 && memcmp(k, lit, kl) == 0)
        if (KEY("statusCode")) {
            if (!json_is_null(v) && route__parse_status(v, &res->status_code) != PT_OK)
                rc = PT_EPARSE;
        } else if (KEY("headers")) {
            if (json_is_object(v))
                rc = parse_headers(v, &res->headers);
            else if (!json_is_null(v))
                rc = PT_EPARSE;
        } else if (KEY("multiValueHeaders")) {
            if (json_is_object(v))
                rc = parse_mv_headers(v, &res->multi_value_headers);
            else if (!json_is_null(v))
                rc = PT_EPARSE;
        } else if (KEY("body")) {
            if (json_is_object(v) || json_is_array(v))
                rc = PT_EPARSE;
            else if (!json_is_null(v))
                body = v;
        } else if (KEY("isBase64Encoded")) {
            if (json_is_boolean(v))
                res->is_base64 = json_is_true(v);
            else if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0)
                res->is_base64 = true;
            else if (!json_is_null(v) &&
                     !(json_is_string(v) && strcmp(json_string_value(v), "false") == 0))
                rc = PT_EPARSE;
        } else {
            rc = PT_EPARSE;
        }
#undef KEY
        if (rc != PT_OK)
            goto fail;
    }
    if (body) {
        char *s;
        if (route__scalar_text(body, &s) != PT_OK) {
            rc = PT_EPARSE;
            goto fail;
        }
        size_t n = json_is_string(body) ? json_string_length(body) : strlen(s);
        if (res->is_base64) {
            uint8_t *d = pt_xmalloc(n / 4 * 3 + 4); /* owned by res on success */
            long dn = b64_decode(s, n, d);
            free(s);
            if (dn < 0) {
                free(d);
                rc = PT_EPARSE;
                goto fail;
            }
            d[dn] = '\0';
            res->body = (char *)d;
            res->body_len = (size_t)dn;
        } else {
            res->body = s;
            res->body_len = n;
        }
    }
    json_decref(root);
    return PT_OK;
fail:
    if (root)
        json_decref(root);
    route_proxy_result_free(res);
    return rc;
}

static const char *lookup_ci(const json_t *obj, const char *name, bool multi)
{
    const char *k;
    json_t *v;
    if (!obj)
        return NULL;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (strcasecmp(k, name) != 0)
            continue;
        if (multi)
            v = json_array_get(v, 0);
        if (v && json_is_string(v))
            return json_string_value(v);
    }
    return NULL;
}

const char *route_proxy_result_header(const route_proxy_result_t *res, const char *name)
{
    const char *v = lookup_ci(res->headers, name, false);
    return v ? v : lookup_ci(res->multi_value_headers, name, true);
}
