/* sigv4.h: AWS Signature Version 4, signing and verification; pure functions, no I/O. */
#ifndef PORTICO_COMMON_SIGV4_H
#define PORTICO_COMMON_SIGV4_H

#include "common/buf.h"
#include "common/hash.h"
#include "common/http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Verification follows aws-compat-spec.md section 8: the canonical URI is built from the raw
 * request-target as sent (never the decoded path), URI-encoded once more (the double encoding
 * every AWS service but S3 uses). Debian's curl 7.88 (--aws-sigv4) signs the path as sent,
 * without that second encoding, so verification also accepts the single-encoded canonical form
 * when `accept_single_encoding` is set: both derive from the same raw path, and the signature
 * still covers every byte of it.
 *
 * Thread context: none of these functions keep global state. A sigv4_cache_t belongs to one
 * thread (one per worker).
 */

typedef struct sigv4_cred {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL for long-term credentials */
    const void *user;          /* caller's data, returned in the result (e.g. allowed stages) */
} sigv4_cred_t;

/* Finds the credential for an access key id; NULL when unknown. */
typedef const sigv4_cred_t *(*sigv4_lookup_cb)(void *ctx, const char *akid, size_t akid_len);

/* The request as received. Header and target pointers may point into the read buffer. */
typedef struct sigv4_request {
    const char *method;
    size_t method_len;
    const char *target; /* raw request-target: path and optional "?query", as sent */
    size_t target_len;
    const http_header_t *headers; /* every request header, duplicates included */
    size_t nheaders;
    const void *body;
    size_t body_len;
} sigv4_request_t;

/*
 * Signing-key cache: kSigning per (access key, date, region, service). Zero-initialise.
 * An entry also keeps a copy of the secret it was derived from and is used only when the
 * credential's current secret is the same, so a rotated secret never reuses a stale key.
 * Access keys, secrets and scopes that do not fit the fields are simply not cached.
 */
#define SIGV4_CACHE_SLOTS 8
typedef struct sigv4_cache_entry {
    char akid[129];
    char scope[96]; /* "20150830/us-east-1/execute-api" */
    uint8_t key[32];
    uint64_t used;        /* LRU stamp */
    char secret[129];     /* the secret key was derived from (added: rotation safety) */
    hash_hmac_key_t hmac; /* key's HMAC pad states: two compressions fewer per signature */
} sigv4_cache_entry_t;
typedef struct sigv4_cache {
    sigv4_cache_entry_t e[SIGV4_CACHE_SLOTS];
    uint64_t tick;
} sigv4_cache_t;

/* Wipes every entry (keys and secrets) with OPENSSL_cleanse; the cache stays usable. */
void sigv4_cache_clear(sigv4_cache_t *c);

typedef struct sigv4_verify_opts {
    const char *service;         /* required service in the scope, e.g. "execute-api" */
    const char *region;          /* required region, NULL to accept any */
    int64_t now;                 /* unix seconds */
    int max_skew_seconds;        /* 300 as AWS; 0 means 300 */
    bool accept_single_encoding; /* also accept curl's single-encoded canonical path */
    bool explain;                /* on mismatch, add the canonical request and string-to-sign */
    sigv4_lookup_cb lookup;
    void *lookup_ctx;
    sigv4_cache_t *cache; /* optional */
} sigv4_verify_opts_t;

/* Why verification failed; the gateway turns this into a 403 with AWS's body and header. */
typedef enum sigv4_status {
    SIGV4_OK = 0,
    SIGV4_MISSING, /* no Authorization header and no X-Amz-* query: "Missing Authentication Token"
                    */
    SIGV4_INCOMPLETE,    /* malformed Authorization / query parameters */
    SIGV4_UNKNOWN_KEY,   /* access key id not found */
    SIGV4_BAD_TOKEN,     /* session token missing or different */
    SIGV4_BAD_SCOPE,     /* wrong service, region, terminator or date */
    SIGV4_EXPIRED,       /* outside the clock-skew window or past X-Amz-Expires */
    SIGV4_NOT_YET_VALID, /* dated in the future beyond the window */
    SIGV4_BAD_SIGNATURE, /* signature mismatch, or body hash mismatch */
} sigv4_status_t;

typedef struct sigv4_result {
    sigv4_status_t status;
    const sigv4_cred_t *cred; /* the credential that signed, when status == SIGV4_OK */
    bool presigned;           /* true when the query-string form was used */
    /* AWS's x-amzn-ErrorType for the failure, e.g. "InvalidSignatureException",
     * "MissingAuthenticationTokenException", "UnrecognizedClientException",
     * "IncompleteSignatureException". Static string; "" when OK. */
    const char *error_type;
    buf_t message; /* AWS's message text for the failure (caller frees with buf_free) */
} sigv4_result_t;

/*
 * Verifies a request. Returns PT_OK when the signature is valid (res->status == SIGV4_OK), or
 * PT_EAUTH with res->status, error_type and message describing the failure as AWS words it.
 * The caller must buf_free(&res->message) in both cases.
 * Returns PT_EINVAL (a caller bug: req, opts, opts->service or opts->lookup missing); then
 * res->status is SIGV4_INCOMPLETE, error_type "" and the message empty.
 */
int sigv4_verify(const sigv4_request_t *req, const sigv4_verify_opts_t *opts, sigv4_result_t *res);

/* What to sign. The target must already be encoded as it will be sent on the wire. */
typedef struct sigv4_sign_params {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL for none */
    const char *region;
    const char *service;
    int64_t now; /* unix seconds */
    const char *method;
    const char *host;             /* Host header value, port included when not default */
    const char *target;           /* path and optional query, as sent */
    const http_header_t *headers; /* extra headers to sign (besides host and x-amz-date) */
    size_t nheaders;
    const void *body;
    size_t body_len;
    bool add_content_sha256; /* also sign and emit x-amz-content-sha256 */
    sigv4_cache_t *cache;    /* optional */
} sigv4_sign_params_t;

/*
 * Signs with the Authorization-header form, encoding the canonical path twice as botocore does.
 * Appends the headers to send to `out_headers` as "Name: value\r\n" lines: Authorization,
 * X-Amz-Date, X-Amz-Security-Token (when a token is given), x-amz-content-sha256 (when asked).
 * Returns PT_OK or PT_EINVAL: a required field missing, CR/LF in a value it emits, a '/' in the
 * key id, region or service, an extra header name that is not an RFC 9110 token, or an extra
 * header the signer adds itself (host, x-amz-date, authorization; x-amz-security-token with a
 * token, x-amz-content-sha256 with add_content_sha256). An extra x-amz-content-sha256 header
 * (e.g. UNSIGNED-PAYLOAD) is used as the payload hash, as botocore does.
 */
int sigv4_sign(const sigv4_sign_params_t *p, buf_t *out_headers);

/*
 * Presigns a URL (query-string form, X-Amz-SignedHeaders=host, empty-payload hash) as
 * botocore's generate_presigned_url does. Appends the full target (path + "?" + query with the
 * X-Amz-* parameters, existing query kept) to out_target. Returns PT_OK or PT_EINVAL (as
 * sigv4_sign, and for expires_seconds outside 1..604800 or any extra headers). Body ignored.
 */
int sigv4_presign(const sigv4_sign_params_t *p, int expires_seconds, buf_t *out_target);

/* Formats unix seconds as "YYYYMMDDTHHMMSSZ" (17 bytes with NUL). */
void sigv4_amz_date(int64_t t, char out[17]);

/* Parses "YYYYMMDDTHHMMSSZ"; returns PT_OK or PT_EPARSE. */
int sigv4_parse_amz_date(const char *s, size_t n, int64_t *out);

/* Lower-case hex SHA-256 of data (65 bytes with NUL). */
void sigv4_sha256_hex(const void *data, size_t n, char out[65]);

#endif
