/* err.c: text for Portico's status codes. */
#include "common/err.h"

const char *pt_strerror(int code)
{
    switch (code) {
    case PT_OK:
        return "ok";
#define PT_ERR_STR(name, c, msg)                                                                   \
    case c:                                                                                        \
        return msg;
        PT_ERR_MAP(PT_ERR_STR)
#undef PT_ERR_STR
    }
    return "unknown error";
}

const char *pt_errname(int code)
{
    switch (code) {
    case PT_OK:
        return "PT_OK";
#define PT_ERR_NAME(name, c, msg)                                                                  \
    case c:                                                                                        \
        return "PT_E" #name;
        PT_ERR_MAP(PT_ERR_NAME)
#undef PT_ERR_NAME
    }
    return "PT_E?";
}
