/* http_result.c: Lambda results of HTTP APIs: payload format 2.0 (and 1.0 through result.c). */
#include "routes/route_internal.h"
#include "common/b64.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

/*
 * Format 2.0, as AWS documents it ("Lambda function response for format 2.0"): when the
 * function returns valid JSON without a statusCode, API Gateway infers the response: status
 * 200, content-type application/json, isBase64Encoded false, and the body is "the function's
 * response": a JSON string gives its text ("Hello from Lambda!"), anything else is sent as the
 * JSON the function returned ({ "message": "Hello from Lambda!" } byte for byte, as AWS's table
 * shows it). With a statusCode, the result is {cookies, isBase64Encoded, statusCode, headers,
 * body}:
 *   - statusCode: an integer 100..599, or a string of digits or an integral real (the coercions
 *     REST results get too, result.c); a statusCode of null counts as absent.
 *   - headers: an object of scalars (numbers and booleans as their JSON text); null values are
 *     dropped. Values may be comma-joined lists; there are no multi-value headers in 2.0 (AWS's
 *     API Gateway team: "If customer is using 2.0 of the lambda proxy format, api gw does not
 *     read multiValueHeaders", aws/serverless-java-container#377), so multiValueHeaders is
 *     ignored, as are keys AWS does not define [U: ignoring, not failing, is the lenient
 *     reading of a format that ignores multiValueHeaders].
 *   - cookies: an array of strings, each one Set-Cookie header.
 *   - body: a string (scalars as their text); base64-decoded when isBase64Encoded is true.
 * Anything of the wrong type is malformed (PT_EPARSE; the client gets 502), as is a payload
 * that is not JSON at all.
 */

void route_http_result_free(route_http_result_t *res)
{
    free(res->body);
    if (res->headers)
        json_decref(res->headers);
    if (res->cookies)
        json_decref(res->cookies);
    memset(res, 0, sizeof *res);
}

int route_http_result_parse_v2(const char *text, size_t len, route_http_result_t *res)
{
    json_t *root = NULL;
    const json_t *status, *v;
    const json_t *body = NULL;
    bool b64 = false;
    int rc = PT_OK;

    memset(res, 0, sizeof *res);
    root = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!root) {
        rc = PT_EPARSE;
        goto fail;
    }
    status = json_is_object(root) ? json_object_get(root, "statusCode") : NULL;
    if (!status || json_is_null(status)) {
        res->inferred = true;
        res->status_code = 200;
        if (json_is_string(root)) {
            res->body_len = json_string_length(root);
            res->body = pt_xmemdup(json_string_value(root), res->body_len + 1);
        } else {
            res->body = pt_xmalloc(len + 1);
            memcpy(res->body, text, len);
            res->body[len] = '\0';
            res->body_len = len;
        }
        goto out;
    }
    if (route__parse_status(status, &res->status_code) != PT_OK) {
        rc = PT_EPARSE;
        goto fail;
    }
    v = json_object_get(root, "headers");
    if (v && !json_is_null(v)) {
        const char *k;
        size_t kl;
        json_t *x;
        if (!json_is_object(v)) {
            rc = PT_EPARSE;
            goto fail;
        }
        res->headers = json_object();
        json_object_keylen_foreach((json_t *)v, k, kl, x)
        {
            char *s;
            if (json_is_null(x))
                continue;
            if (route__scalar_text(x, &s) != PT_OK) {
                rc = PT_EPARSE;
                goto fail;
            }
            json_object_setn_new_nocheck(res->headers, k, kl, json_string_nocheck(s));
            free(s);
        }
    }
    v = json_object_get(root, "cookies");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v)) {
            rc = PT_EPARSE;
            goto fail;
        }
        res->cookies = json_array();
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *c = json_array_get(v, i);
            if (json_is_null(c))
                continue;
            if (!json_is_string(c)) {
                rc = PT_EPARSE;
                goto fail;
            }
            json_array_append_new(
                res->cookies, json_stringn_nocheck(json_string_value(c), json_string_length(c)));
        }
    }
    v = json_object_get(root, "isBase64Encoded");
    if (v && !json_is_null(v)) {
        if (json_is_boolean(v))
            b64 = json_is_true(v);
        else if (json_is_string(v) && strcmp(json_string_value(v), "true") == 0)
            b64 = true;
        else if (!(json_is_string(v) && strcmp(json_string_value(v), "false") == 0)) {
            rc = PT_EPARSE;
            goto fail;
        }
    }
    v = json_object_get(root, "body");
    if (v && !json_is_null(v)) {
        if (json_is_object(v) || json_is_array(v)) {
            rc = PT_EPARSE;
            goto fail;
        }
        body = v;
    }
    if (body) {
        char *s;
        if (route__scalar_text(body, &s) != PT_OK) {
            rc = PT_EPARSE;
            goto fail;
        }
        size_t n = json_is_string(body) ? json_string_length(body) : strlen(s);
        if (b64) {
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
out:
    json_decref(root);
    return PT_OK;
fail:
    if (root)
        json_decref(root);
    route_http_result_free(res);
    return rc;
}
