/* jwt.c: JWT authorizers: compact JWS decoding, JWK sets, signatures (libjose), claim checks. */
#include "routes/security.h"
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <jose/b64.h>
#include <jose/cfg.h>
#include <jose/jws.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * What API Gateway checks for a JWT authorizer ("Control access to HTTP APIs with JWT
 * authorizers", workflow steps 3 and 4): the signature with the issuer's public key picked by
 * "kid"; iss; aud, or client_id when aud is absent; exp, nbf and iat against the clock; and,
 * when the route lists authorizationScopes, scope/scp. AWS supports "only RSA-based
 * algorithms"; Portico also accepts ECDSA (ES256/384/512), which issue 7 asks for.
 *
 * No cryptography is written here: signatures are verified by libjose (Debian's libjose,
 * latchset/jose), which reads the JWK and the flattened JWS as jansson trees. What is written
 * here is the policy around it: the algorithm allow-list is checked on the token *before* a
 * key is chosen, and the key must be of the algorithm's family, so "alg": "none", HS256 with
 * an RSA public key as the HMAC secret (the classic confusion) and unknown algorithms never
 * reach a verifier.
 */

#define JWT_MAX 16384

static const struct {
    const char *alg;
    const char *kty;
    const char *crv; /* EC only */
} ALGS[] = {
    {"RS256", "RSA", NULL},   {"RS384", "RSA", NULL},   {"RS512", "RSA", NULL},
    {"ES256", "EC", "P-256"}, {"ES384", "EC", "P-384"}, {"ES512", "EC", "P-521"},
};

static int alg_index(const char *a)
{
    for (size_t i = 0; i < PT_ARRAY_LEN(ALGS); i++)
        if (strcmp(ALGS[i].alg, a) == 0)
            return (int)i;
    return -1;
}

static bool b64url_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return n % 4 != 1;
}

/* base64url text -> parsed JSON object (NULL when it is not one). */
static json_t *b64_json(const char *s, size_t n)
{
    size_t need = jose_b64_dec_buf(s, n, NULL, 0);
    if (need == SIZE_MAX || need > JWT_MAX)
        return NULL;
    char *raw = pt_xmalloc(need + 1);
    json_t *j = NULL;
    if (jose_b64_dec_buf(s, n, raw, need) == need)
        j = json_loadb(raw, need, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

void route_jwt_free(route_jwt_t *t)
{
    json_decref(t->jws);
    json_decref(t->header);
    json_decref(t->claims);
    memset(t, 0, sizeof *t);
}

int route_jwt_decode(const char *tok, size_t n, route_jwt_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    *why = "the token is malformed";
    if (n >= 7 && strncasecmp(tok, "Bearer ", 7) == 0) {
        tok += 7;
        n -= 7;
        while (n && *tok == ' ') {
            tok++;
            n--;
        }
    }
    if (n == 0 || n > JWT_MAX)
        return PT_EPARSE;
    const char *d1 = memchr(tok, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok)))
        return PT_EPARSE; /* not three parts (a JWE has five) */
    size_t hl = (size_t)(d1 - tok), pl = (size_t)(d2 - d1 - 1), sl = n - (size_t)(d2 + 1 - tok);
    if (!hl || !pl || !b64url_ok(tok, hl) || !b64url_ok(d1 + 1, pl) || !b64url_ok(d2 + 1, sl))
        return PT_EPARSE;
    out->header = b64_json(tok, hl);
    out->claims = b64_json(d1 + 1, pl);
    if (!out->header || !out->claims)
        return PT_EPARSE;
    const json_t *alg = json_object_get(out->header, "alg");
    if (!json_is_string(alg)) {
        *why = "the token has no signing method";
        return PT_EINVAL;
    }
    int ai = alg_index(json_string_value(alg));
    if (ai < 0 || sl == 0) {
        /* AWS words it "signing method HS256 is invalid". */
        *why = strcmp(json_string_value(alg), "none") == 0 ? "signing method none is invalid"
                                                           : "the signing method is invalid";
        return PT_EINVAL;
    }
    if (json_object_get(out->header, "crit")) {
        *why = "the token has critical headers";
        return PT_EINVAL;
    }
    snprintf(out->alg, sizeof out->alg, "%s", ALGS[ai].alg);
    const json_t *kid = json_object_get(out->header, "kid");
    out->kid = json_is_string(kid) ? json_string_value(kid) : NULL;
    out->jws = json_pack("{s:s%,s:s%,s:s%}", "protected", tok, hl, "payload", d1 + 1, pl,
                         "signature", d2 + 1, sl);
    if (!out->jws)
        return PT_EPARSE;
    *why = NULL;
    return PT_OK;
}

/* A key usable for signature verification: a public RSA or EC key (no private parts kept). */
static bool key_ok(const json_t *k)
{
    const char *kty = json_string_value(json_object_get(k, "kty"));
    const json_t *use = json_object_get(k, "use");
    if (!kty || (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)))
        return false;
    if (strcmp(kty, "RSA") == 0)
        return json_is_string(json_object_get(k, "n")) && json_is_string(json_object_get(k, "e"));
    if (strcmp(kty, "EC") == 0)
        return json_is_string(json_object_get(k, "crv")) &&
               json_is_string(json_object_get(k, "x")) && json_is_string(json_object_get(k, "y"));
    return false;
}

int route_jwks_parse(const char *text, size_t len, json_t **out, const char **why)
{
    *out = NULL;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *keys = json_object_get(j, "keys");
    if (!j || !json_is_array(keys)) {
        json_decref(j);
        *why = "the JWK set is not {\"keys\": [...]}";
        return PT_EPARSE;
    }
    json_t *set = json_array();
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (!json_is_object(k) || !key_ok(k) || json_array_size(set) >= 256)
            continue;
        /* Keep public parameters only: a private "d" never reaches a verifier. */
        json_t *pub = json_deep_copy(k);
        json_object_del(pub, "d");
        json_object_del(pub, "p");
        json_object_del(pub, "q");
        json_object_del(pub, "dp");
        json_object_del(pub, "dq");
        json_object_del(pub, "qi");
        json_array_append_new(set, pub);
    }
    json_decref(j);
    if (json_array_size(set) == 0) {
        json_decref(set);
        *why = "the JWK set has no RSA or EC signing key";
        return PT_EINVAL;
    }
    *out = json_pack("{s:o}", "keys", set);
    return PT_OK;
}

static void quiet(void *misc, const char *file, int line, uint64_t err, const char *fmt, va_list ap)
{
    (void)misc;
    (void)file;
    (void)line;
    (void)err;
    (void)fmt;
    (void)ap;
}

int route_jwt_verify(const route_jwt_t *t, const json_t *jwks, const char **why)
{
    const json_t *keys = json_object_get(jwks, "keys");
    const json_t *key = NULL;
    size_t i;
    json_t *k;
    int ai = alg_index(t->alg);
    if (ai < 0 || !t->jws) {
        *why = "the signing method is invalid";
        return PT_EAUTH;
    }
    json_array_foreach(keys, i, k)
    {
        const char *kid = json_string_value(json_object_get(k, "kid"));
        if (t->kid && kid && strcmp(kid, t->kid) == 0) {
            key = k;
            break;
        }
    }
    if (!key) {
        *why = "the token's kid does not match a key of the issuer";
        return PT_ENOTFOUND;
    }
    const char *kty = json_string_value(json_object_get(key, "kty"));
    const char *kalg = json_string_value(json_object_get(key, "alg"));
    const char *crv = json_string_value(json_object_get(key, "crv"));
    if (!kty || strcmp(kty, ALGS[ai].kty) != 0 || (kalg && strcmp(kalg, t->alg) != 0) ||
        (ALGS[ai].crv && (!crv || strcmp(crv, ALGS[ai].crv) != 0))) {
        *why = "the signing method does not match the key";
        return PT_EAUTH;
    }
    jose_cfg_t *cfg = jose_cfg();
    if (!cfg) {
        *why = "out of memory";
        return PT_EAUTH;
    }
    jose_cfg_set_err_func(cfg, quiet, NULL);
    bool ok = jose_jws_ver(cfg, t->jws, NULL, key, false);
    jose_cfg_decref(cfg);
    if (!ok) {
        *why = "the token's signature is invalid";
        return PT_EAUTH;
    }
    return PT_OK;
}

/* A NumericDate claim: absent (false, *present false) or a number. */
static bool num_claim(const json_t *c, const char *name, bool *present, double *v)
{
    const json_t *j = json_object_get(c, name);
    *present = j != NULL;
    if (!j)
        return true;
    if (!json_is_number(j))
        return false;
    *v = json_number_value(j);
    return true;
}

static bool in_audience(const char *v, char *const *aud, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        if (strcmp(aud[i], v) == 0)
            return true;
    return false;
}

int route_jwt_check_claims(const json_t *claims, const char *issuer, char *const *audience,
                           size_t naudience, int64_t now, int skew_s, const char **why)
{
    bool present;
    double v = 0;
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (issuer && (!iss || strcmp(iss, issuer) != 0)) {
        *why = "the token does not have a valid issuer";
        return PT_EAUTH;
    }
    if (naudience) {
        const json_t *aud = json_object_get(claims, "aud");
        bool ok = false;
        if (aud) {
            if (json_is_string(aud)) {
                ok = in_audience(json_string_value(aud), audience, naudience);
            } else if (json_is_array(aud)) {
                size_t i;
                json_t *e;
                json_array_foreach(aud, i, e) ok =
                    ok || in_audience(json_string_value(e), audience, naudience);
            }
        } else {
            ok = in_audience(json_string_value(json_object_get(claims, "client_id")), audience,
                             naudience);
        }
        if (!ok) {
            *why = "the token does not have a valid audience";
            return PT_EAUTH;
        }
    }
    if (!num_claim(claims, "exp", &present, &v) || !present) {
        *why = "the token has no valid exp claim";
        return PT_EAUTH;
    }
    if (v + skew_s <= (double)now) {
        *why = "the token has expired";
        return PT_EAUTH;
    }
    if (!num_claim(claims, "nbf", &present, &v) || (present && v - skew_s > (double)now)) {
        *why = "the token is not valid yet";
        return PT_EAUTH;
    }
    if (!num_claim(claims, "iat", &present, &v) || (present && v - skew_s > (double)now)) {
        *why = "the token was issued in the future";
        return PT_EAUTH;
    }
    return PT_OK;
}

/* Calls fn for each scope of the token ("scope": "a b", or "scp": "a b" / ["a", "b"]). */
static bool has_scope(const json_t *claims, const char *want)
{
    static const char *const names[] = {"scope", "scp"};
    size_t wl = strlen(want);
    for (size_t k = 0; k < PT_ARRAY_LEN(names); k++) {
        const json_t *s = json_object_get(claims, names[k]);
        if (json_is_string(s)) {
            const char *p = json_string_value(s);
            while (*p) {
                size_t l = strcspn(p, " ");
                if (l == wl && memcmp(p, want, wl) == 0)
                    return true;
                p += l;
                p += strspn(p, " ");
            }
        } else if (json_is_array(s)) {
            size_t i;
            json_t *e;
            json_array_foreach(s, i, e) if (json_is_string(e) &&
                                            strcmp(json_string_value(e), want) == 0) return true;
        }
    }
    return false;
}

int route_jwt_check_scopes(const json_t *claims, char *const *required, size_t n, const char **why)
{
    for (size_t i = 0; i < n; i++)
        if (has_scope(claims, required[i]))
            return PT_OK;
    if (n == 0)
        return PT_OK;
    *why = "the token does not have the required scopes";
    return PT_EAUTH;
}

/* AWS renders claims as strings: numbers as text, lists as "[a b]" (Go's fmt of a slice). */
static json_t *claim_text(const json_t *v)
{
    buf_t b = BUF_INIT;
    if (json_is_string(v))
        return json_stringn(json_string_value(v), json_string_length(v));
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        buf_putc(&b, '[');
        json_array_foreach(v, i, e)
        {
            if (i)
                buf_putc(&b, ' ');
            if (json_is_string(e))
                buf_puts(&b, json_string_value(e));
            else
                route__json_text(e, &b);
        }
        buf_putc(&b, ']');
    } else if (json_is_integer(v)) {
        buf_printf(&b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == (double)(long long)d && d < 1e15 && d > -1e15)
            buf_printf(&b, "%lld", (long long)d);
        else
            buf_printf(&b, "%g", d);
    } else {
        route__json_text(v, &b);
    }
    json_t *s = json_stringn_nocheck(b.p ? b.p : "", b.len);
    buf_free(&b);
    return s;
}

json_t *route_jwt_context(const json_t *claims, bool v2)
{
    json_t *c = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)claims, k, v)
    {
        if (json_is_null(v))
            continue;
        json_t *s = claim_text(v);
        if (s)
            json_object_set_new(c, k, s);
    }
    json_t *scopes = json_null();
    const json_t *sc = json_object_get(claims, "scope");
    if (!json_is_string(sc))
        sc = json_object_get(claims, "scp");
    if (json_is_string(sc) && json_string_length(sc)) {
        scopes = json_array();
        const char *p = json_string_value(sc);
        while (*p) {
            size_t l = strcspn(p, " ");
            if (l)
                json_array_append_new(scopes, json_stringn_nocheck(p, l));
            p += l;
            p += strspn(p, " ");
        }
    } else if (json_is_array(sc)) {
        scopes = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(sc, i, e) if (json_is_string(e))
            json_array_append_new(scopes, json_string(json_string_value(e)));
    }
    json_t *inner = json_pack("{s:o,s:o}", "claims", c, "scopes", scopes);
    return v2 ? json_pack("{s:o}", "jwt", inner) : inner;
}
