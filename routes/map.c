/* map.c: string maps of the API model. */
#include "routes/route.h"

#include <string.h>

const char *route_map_get(const route_map_t *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->items[i].key, key) == 0)
            return m->items[i].val;
    return NULL;
}
