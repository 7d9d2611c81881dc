/* mem.h: allocation helpers that abort on out-of-memory, for fixed-size bookkeeping. */
#ifndef PORTICO_COMMON_MEM_H
#define PORTICO_COMMON_MEM_H

#include <stddef.h>

/*
 * OOM policy (style rule 6): bookkeeping allocations abort instead of returning NULL, which
 * removes error branches nobody can test. Every size a client controls is checked against a
 * configured limit *before* it reaches these functions.
 */
void *pt_xmalloc(size_t n);
void *pt_xcalloc(size_t count, size_t n);
void *pt_xrealloc(void *p, size_t n);
char *pt_xstrdup(const char *s);
char *pt_xstrndup(const char *s, size_t n);
void *pt_xmemdup(const void *p, size_t n);

#define PT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
