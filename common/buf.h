/* buf.h: a growable byte buffer, always NUL-terminated for convenience. */
#ifndef PORTICO_COMMON_BUF_H
#define PORTICO_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A buf_t owns its storage (p, freed by buf_free). p is NULL until the first append; after
 * any append p[len] == '\0', which is not counted in len. Growth aborts on OOM (mem.h).
 */
typedef struct buf {
    char *p;
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *data, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends s as the inside of a JSON string (quotes not included), escaping as JSON requires. */
void buf_json_escape(buf_t *b, const char *s, size_t n);
/* Appends s as a quoted JSON string. */
void buf_json_str(buf_t *b, const char *s, size_t n);
/* Drops the first n bytes. */
void buf_consume(buf_t *b, size_t n);
void buf_reset(buf_t *b);
void buf_free(buf_t *b);
/* Hands the storage to the caller (free() it); the buffer is left empty. Never NULL. */
char *buf_steal(buf_t *b, size_t *len);

#endif
