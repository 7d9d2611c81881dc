/* b64.h: base64 (standard and URL-safe alphabets) encoding and decoding. */
#ifndef PORTICO_COMMON_B64_H
#define PORTICO_COMMON_B64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Encoded length with padding, NUL not included. */
#define B64_ENC_LEN(n) ((((n) + 2) / 3) * 4)

/* Encodes n bytes into out (B64_ENC_LEN(n)+1 bytes), with '=' padding, NUL-terminated.
 * url selects the "-_" alphabet. Returns the length written. */
size_t b64_encode(const uint8_t *in, size_t n, char *out, bool url);

/* Decodes into out (needs n/4*3+3 bytes). Accepts either alphabet, padding optional, no
 * whitespace. Returns the decoded length or -1 when malformed. */
long b64_decode(const char *in, size_t n, uint8_t *out);

#endif
