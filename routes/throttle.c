/* throttle.c: token buckets, usage-plan quota windows, API-key selection and route throttles. */
#include "routes/security.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/*
 * AWS throttles "using the token bucket algorithm, where a token counts for a request": the
 * bucket holds at most burstLimit tokens and refills at rateLimit per second ("Throttle
 * requests to your REST APIs"). The functions here are pure (the caller passes the clock) so
 * the unit tests drive them with a fake one; the gateway holds each shared bucket under a lock.
 */

void route_bucket_init(route_bucket_t *b, double rate, double burst, int64_t now_us)
{
    b->rate = rate > 0 ? rate : 0;
    b->burst = burst > 0 ? burst : 0;
    b->tokens = b->burst;
    b->last_us = now_us;
}

bool route_bucket_take(route_bucket_t *b, int64_t now_us)
{
    if (now_us > b->last_us) {
        b->tokens += (double)(now_us - b->last_us) * b->rate / 1e6;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_us = now_us;
    }
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

void route_bucket_give(route_bucket_t *b)
{
    b->tokens += 1.0;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
}

/* ---- quotas ------------------------------------------------------------------------------- */

#define DAY_S 86400

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm), so no timegm/TZ. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t route_quota_window(route_quota_period_t p, int offset, int64_t t)
{
    int64_t day = floor_div(t, DAY_S);
    switch (p) {
    case ROUTE_QUOTA_DAY:
        return day * DAY_S;
    case ROUTE_QUOTA_WEEK: {
        /* 1970-01-01 was a Thursday (weekday 4 with Sunday = 0). */
        int64_t wd = ((day + 4) % 7 + 7) % 7;
        int64_t back = ((wd - offset) % 7 + 7) % 7;
        return (day - back) * DAY_S;
    }
    case ROUTE_QUOTA_MONTH: {
        int64_t y;
        unsigned m, d;
        civil_from_days(day, &y, &m, &d);
        unsigned start = (unsigned)offset + 1;
        if (d < start) { /* still in the window that began last month */
            if (m == 1) {
                m = 12;
                y--;
            } else {
                m--;
            }
        }
        return days_from_civil(y, m, start) * DAY_S;
    }
    case ROUTE_QUOTA_NONE:
        break;
    }
    return 0;
}

bool route_quota_take(route_quota_period_t p, int offset, int64_t limit, route_quota_counter_t *c,
                      int64_t now_s)
{
    int64_t w = route_quota_window(p, offset, now_s);
    if (c->window_start != w) {
        c->window_start = w;
        c->used = 0;
    }
    if (limit < 0 || c->used >= (uint64_t)limit)
        return false;
    c->used++;
    return true;
}

/* ---- API keys ------------------------------------------------------------------------------ */

const char *route_apikey_select(const route_api_t *api, const http_header_t *headers,
                                size_t nheaders, const char *usage_key, size_t *len)
{
    const char *sel = api->api_key_selection_expression;
    if (sel && strcmp(sel, "$context.authorizer.usageIdentifierKey") == 0) {
        *len = usage_key ? strlen(usage_key) : 0;
        return usage_key && *usage_key ? usage_key : NULL;
    }
    for (size_t i = nheaders; i-- > 0;) {
        if (headers[i].name_len == 9 && strncasecmp(headers[i].name, "x-api-key", 9) == 0) {
            *len = headers[i].value_len;
            return headers[i].value_len ? headers[i].value : NULL;
        }
    }
    *len = 0;
    return NULL;
}

/* Constant time in the length of the stored key, so timing tells nothing of its bytes. */
static bool key_eq(const char *stored, const char *v, size_t n)
{
    size_t sl = strlen(stored);
    unsigned char diff = (unsigned char)(sl != n);
    for (size_t i = 0; i < sl; i++)
        diff |= (unsigned char)(stored[i] ^ (i < n ? v[i] : 0));
    return diff == 0;
}

int route_apikey_lookup(const route_security_t *sec, const char *value, size_t len,
                        const route_api_t *api, const route_stage_t *stage,
                        const route_apikey_t **key, const route_usage_plan_t **plan,
                        const route_plan_stage_t **ps)
{
    const route_apikey_t *k = NULL;
    *key = NULL;
    *plan = NULL;
    *ps = NULL;
    if (!sec || !value)
        return PT_ENOTFOUND;
    for (size_t i = 0; i < sec->napikeys; i++)
        if (key_eq(sec->apikeys[i].value, value, len))
            k = &sec->apikeys[i];
    if (!k || !k->enabled)
        return PT_ENOTFOUND;
    /* AWS: a key works on a stage only through a usage plan that lists both. */
    for (size_t i = 0; i < sec->nplans; i++) {
        const route_usage_plan_t *p = &sec->plans[i];
        bool has = false;
        for (size_t j = 0; j < p->nkeys && !has; j++)
            has = p->keys[j] == k;
        if (!has)
            continue;
        for (size_t j = 0; j < p->nstages; j++) {
            if (p->stages[j].api == api && p->stages[j].stage_ref == stage) {
                *key = k;
                *plan = p;
                *ps = &p->stages[j];
                return PT_OK;
            }
        }
    }
    return PT_ENOTFOUND;
}

const route_plan_method_t *route_plan_method(const route_plan_stage_t *ps, const char *route_key)
{
    for (size_t i = 0; ps && i < ps->nmethods; i++)
        if (strcmp(ps->methods[i].route_key, route_key) == 0)
            return &ps->methods[i];
    return NULL;
}

const route_settings_t *route_stage_throttle(const route_stage_t *st, const char *route_key)
{
    const char *idx = route_key ? route_map_get(&st->route_settings_keys, route_key) : NULL;
    if (idx) {
        const route_settings_t *s = &st->route_settings[strtoul(idx, NULL, 10)];
        if (s->has_throttle)
            return s;
    }
    return st->default_route_settings.has_throttle ? &st->default_route_settings : NULL;
}
