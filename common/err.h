/* err.h: Portico's status codes (0 ok, negative error) and pt_strerror(). */
#ifndef PORTICO_COMMON_ERR_H
#define PORTICO_COMMON_ERR_H

/*
 * Every function that can fail returns int: 0 on success, one of the negative codes below on
 * failure. Foreign codes (MDB_*, CURLcode, errno) are translated at the module boundary, so a
 * caller never needs another library's header to understand a result.
 */
#define PT_ERR_MAP(XX)                                                                             \
    XX(NOMEM, -1, "out of memory")                                                                 \
    XX(INVAL, -2, "invalid argument")                                                              \
    XX(PARSE, -3, "malformed input")                                                               \
    XX(TOOBIG, -4, "input exceeds a limit")                                                        \
    XX(NOTFOUND, -5, "not found")                                                                  \
    XX(EXISTS, -6, "already exists")                                                               \
    XX(AGAIN, -7, "in progress, call again")                                                       \
    XX(IO, -8, "input/output error")                                                               \
    XX(FULL, -9, "full")                                                                           \
    XX(AUTH, -10, "authentication failed")                                                         \
    XX(EXPIRED, -11, "expired")                                                                    \
    XX(TIMEOUT, -12, "timed out")                                                                  \
    XX(CLOSED, -13, "closed")                                                                      \
    XX(UNSUPPORTED, -14, "not supported")                                                          \
    XX(INTERNAL, -15, "internal error")                                                            \
    XX(DECLINED, -16, "declined")                                                                  \
    XX(MAPFULL, -17, "data store is full")                                                         \
    XX(BUSY, -18, "busy")

enum {
    PT_OK = 0,
#define PT_ERR_ENUM(name, code, msg) PT_E##name = (code),
    PT_ERR_MAP(PT_ERR_ENUM)
#undef PT_ERR_ENUM
};

/* Static text for a status code; never NULL. */
const char *pt_strerror(int code);

/* The symbolic name ("PT_ENOMEM") of a status code; never NULL. */
const char *pt_errname(int code);

#endif
