/* hash.c: SHA-1, SHA-256 and HMAC-SHA256 on OpenSSL's low-level digest functions. */

/*
 * OpenSSL 3 deprecates SHA256_Init and friends in favour of EVP, but its EVP path costs about
 * 10,000 instructions per call on top of the hashing (an implicit provider fetch inside
 * EVP_DigestInit_ex and a context allocation per call): a third of a signed push's user time
 * (docs/performance.md). The low-level functions run the same assembly (SHA-NI where the CPU
 * has it) with the context on the stack, so they are used here on purpose.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "common/hash.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

void hash_sha1(const void *data, size_t n, uint8_t out[20])
{
    SHA1(data, n, out);
}

void hash_sha256(const void *data, size_t n, uint8_t out[32])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, data, n);
    SHA256_Final(out, &c);
}

void hash_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n, uint8_t out[32])
{
    uint8_t k[64], pad[64], inner[32];
    memset(k, 0, sizeof k);
    if (key_len > 64)
        hash_sha256(key, key_len, k);
    else if (key_len)
        memcpy(k, key, key_len);

    SHA256_CTX c;
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    SHA256_Init(&c);
    SHA256_Update(&c, pad, 64);
    SHA256_Update(&c, data, n);
    SHA256_Final(inner, &c);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&c);
    SHA256_Update(&c, pad, 64);
    SHA256_Update(&c, inner, 32);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(&c, sizeof c);
}

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((hash_hmac_key_t *)0)->st[0]),
               "hash_hmac_key_t holds two SHA256_CTX");

void hash_hmac_key_init(hash_hmac_key_t *k, const void *key, size_t key_len)
{
    uint8_t kb[64], pad[64];
    memset(kb, 0, sizeof kb);
    if (key_len > 64)
        hash_sha256(key, key_len, kb);
    else if (key_len)
        memcpy(kb, key, key_len);
    SHA256_CTX c;
    for (int i = 0; i < 64; i++)
        pad[i] = kb[i] ^ 0x36;
    SHA256_Init(&c);
    SHA256_Update(&c, pad, 64);
    memcpy(k->st[0], &c, sizeof c);
    for (int i = 0; i < 64; i++)
        pad[i] = kb[i] ^ 0x5c;
    SHA256_Init(&c);
    SHA256_Update(&c, pad, 64);
    memcpy(k->st[1], &c, sizeof c);
    OPENSSL_cleanse(kb, sizeof kb);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(&c, sizeof c);
}

void hash_hmac_sha256_keyed(const hash_hmac_key_t *k, const void *data, size_t n, uint8_t out[32])
{
    SHA256_CTX c;
    uint8_t inner[32];
    memcpy(&c, k->st[0], sizeof c);
    SHA256_Update(&c, data, n);
    SHA256_Final(inner, &c);
    memcpy(&c, k->st[1], sizeof c);
    SHA256_Update(&c, inner, 32);
    SHA256_Final(out, &c);
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(&c, sizeof c);
}

void hash_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int hash_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}
