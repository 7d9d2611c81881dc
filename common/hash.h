/* hash.h: SHA-1, SHA-256 and HMAC-SHA256 over OpenSSL's EVP (hardware SHA when available). */
#ifndef PORTICO_COMMON_HASH_H
#define PORTICO_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

void hash_sha1(const void *data, size_t n, uint8_t out[20]);
void hash_sha256(const void *data, size_t n, uint8_t out[32]);
void hash_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n, uint8_t out[32]);
/* Lower-case hex of n bytes into out (2n+1 bytes with NUL). */
void hash_hex(const uint8_t *in, size_t n, char *out);
/* Constant-time equality of two equal-length buffers. */
int hash_ct_equal(const void *a, const void *b, size_t n);

#endif
