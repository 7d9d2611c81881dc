/* fuzz_authz.c: authorizer outputs, IAM policies, JWTs and JWK sets from any bytes. */
/*
 * Input format: the first byte picks the parser (low 2 bits) and, for authorizer outputs, the
 * response format (bit 2: enableSimpleResponses); the rest is what a Lambda authorizer, an
 * identity provider's jwks_uri or a client's Authorization header would send:
 *   0: an authorizer output body -> route_az_result_parse, route_az_decide, the context
 *   1: a JWT ("Bearer h.p.s")    -> route_jwt_decode, claims and scopes checks, the context
 *   2: a JWK set                 -> route_jwks_parse, then verify a fixed token against it
 *   3: a policy document (JSON)  -> route_policy_parse and evaluation
 * Invariants: no crash, no leak, and a verdict in the documented set.
 */
#include "common/err.h"
#include "routes/security.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char method_arn[] = "arn:aws:execute-api:us-east-1:123456789012:api1/prod/$connect";

/* An ES256 token whose kid is "k1", for verifying against fuzzed key sets. */
static const char fixed_jwt[] =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1MSIsImlzcyI6Imh0dHBzOi8vaXNzIn0."
    "MEUCIQCfakefakefakefakefakefakefakefakefakefakefakefakefakeAiBfakefakefakefakefakefakefake";

static void fuzz_az(const char *p, size_t n, bool simple)
{
    route_az_result_t r;
    route_az_result_parse(p, n, simple, &r);
    CHECK(r.verdict == ROUTE_AZ_OK || r.verdict == ROUTE_AZ_ERROR);
    int d = route_az_decide(&r, method_arn);
    CHECK(d == 200 || d == 401 || d == 403 || d == 500);
    if (r.verdict == ROUTE_AZ_OK) {
        json_t *ctx = route_az_context_ws(&r);
        CHECK(ctx && json_is_object(ctx));
        char *s = json_dumps(ctx, JSON_COMPACT);
        free(s);
        json_decref(ctx);
    }
    route_az_result_free(&r);
}

static void fuzz_jwt(const char *p, size_t n)
{
    route_jwt_t t;
    const char *why = NULL;
    memset(&t, 0, sizeof t);
    int rc = route_jwt_decode(p, n, &t, &why);
    if (rc == PT_OK) {
        CHECK(t.claims && json_is_object(t.claims));
        char *aud[] = {"client-1"};
        char *scopes[] = {"read", "write"};
        why = NULL;
        rc = route_jwt_check_claims(t.claims, "https://iss", aud, 1, 1700000000, 60, &why);
        CHECK(rc == PT_OK || (rc == PT_EAUTH && why));
        why = NULL;
        rc = route_jwt_check_scopes(t.claims, scopes, 2, &why);
        CHECK(rc == PT_OK || (rc == PT_EAUTH && why));
        for (int v2 = 0; v2 < 2; v2++) {
            json_t *ctx = route_jwt_context(t.claims, v2);
            CHECK(ctx);
            json_decref(ctx);
        }
    } else {
        CHECK(why);
    }
    route_jwt_free(&t);
}

static void fuzz_jwks(const char *p, size_t n)
{
    json_t *set = NULL;
    const char *why = NULL;
    int rc = route_jwks_parse(p, n, &set, &why);
    if (rc != PT_OK) {
        CHECK(why);
        json_decref(set);
        return;
    }
    route_jwt_t t;
    memset(&t, 0, sizeof t);
    if (route_jwt_decode(fixed_jwt, strlen(fixed_jwt), &t, &why) == PT_OK) {
        why = NULL;
        rc = route_jwt_verify(&t, set, &why);
        CHECK(rc != PT_OK); /* the signature is garbage: no key may accept it */
    }
    route_jwt_free(&t);
    json_decref(set);
}

static void fuzz_policy(const char *p, size_t n)
{
    json_error_t jerr;
    json_t *doc = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return;
    route_policy_t *pol = NULL;
    if (route_policy_parse(doc, &pol, NULL) == PT_OK) {
        static const char *ips[] = {NULL, "10.1.2.3", "2001:db8::1", "not-an-ip"};
        for (size_t i = 0; i < 4; i++) {
            route_effect_t e =
                route_policy_eval(pol, "execute-api:Invoke", method_arn,
                                  "arn:aws:execute-api:us-east-1:123456789012:api1", ips[i]);
            CHECK(e == ROUTE_EFFECT_NONE || e == ROUTE_EFFECT_ALLOW || e == ROUTE_EFFECT_DENY);
        }
        (void)route_policy_has_allow(pol);
        route_policy_free(pol);
    }
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] & 3) {
    case 0:
        fuzz_az(p, n, data[0] & 4);
        break;
    case 1:
        fuzz_jwt(p, n);
        break;
    case 2:
        fuzz_jwks(p, n);
        break;
    default:
        fuzz_policy(p, n);
    }
    return 0;
}
