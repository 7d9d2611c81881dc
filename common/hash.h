/* hash.h: SHA-1, SHA-256 and HMAC-SHA256 on OpenSSL's low-level SHA (hardware SHA when available).
 */
#ifndef PORTICO_COMMON_HASH_H
#define PORTICO_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

void hash_sha1(const void *data, size_t n, uint8_t out[20]);
void hash_sha256(const void *data, size_t n, uint8_t out[32]);
void hash_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n, uint8_t out[32]);
/*
 * HMAC-SHA256 under one key many times: the key's inner and outer pad states are hashed once
 * (hash_hmac_key_init), so each MAC saves two SHA-256 compressions (the SigV4 signing key, used
 * for every request of a day). Holds key material: wipe it (OPENSSL_cleanse / sodium_memzero)
 * when done. The storage is opaque (OpenSSL's SHA256_CTX, 112 bytes, fits).
 */
typedef struct hash_hmac_key {
    uint64_t st[2][16];
} hash_hmac_key_t;
void hash_hmac_key_init(hash_hmac_key_t *k, const void *key, size_t key_len);
/* Same result as hash_hmac_sha256 with the key given to hash_hmac_key_init. */
void hash_hmac_sha256_keyed(const hash_hmac_key_t *k, const void *data, size_t n, uint8_t out[32]);
/* Lower-case hex of n bytes into out (2n+1 bytes with NUL). */
void hash_hex(const uint8_t *in, size_t n, char *out);
/* Constant-time equality of two equal-length buffers. */
int hash_ct_equal(const void *a, const void *b, size_t n);

#endif
