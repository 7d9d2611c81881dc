/* timefmt.c: clocks and AWS time formats. */
#include "common/timefmt.h"

#include <time.h>

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_ms(void)
{
    return time_mono_us() / 1000;
}

static const char *MON[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *DAY[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

static void utc(int64_t unix_s, struct tm *tm)
{
    time_t t = (time_t)unix_s;
    gmtime_r(&t, tm);
}

static char *d2(char *p, int v)
{
    p[0] = (char)('0' + (v / 10) % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

static char *d4(char *p, int v)
{
    p = d2(p, (v / 100) % 100);
    return d2(p, v % 100);
}

static char *str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

void time_clf(int64_t unix_ms, char out[32])
{
    struct tm tm;
    utc(unix_ms / 1000, &tm);
    char *p = d2(out, tm.tm_mday);
    *p++ = '/';
    p = str(p, MON[tm.tm_mon]);
    *p++ = '/';
    p = d4(p, tm.tm_year + 1900);
    *p++ = ':';
    p = d2(p, tm.tm_hour);
    *p++ = ':';
    p = d2(p, tm.tm_min);
    *p++ = ':';
    p = d2(p, tm.tm_sec);
    p = str(p, " +0000");
    *p = '\0';
}

void time_iso_ms(int64_t unix_ms, char out[32])
{
    struct tm tm;
    utc(unix_ms / 1000, &tm);
    int ms = (int)(unix_ms % 1000);
    char *p = d4(out, tm.tm_year + 1900);
    *p++ = '-';
    p = d2(p, tm.tm_mon + 1);
    *p++ = '-';
    p = d2(p, tm.tm_mday);
    *p++ = 'T';
    p = d2(p, tm.tm_hour);
    *p++ = ':';
    p = d2(p, tm.tm_min);
    *p++ = ':';
    p = d2(p, tm.tm_sec);
    *p++ = '.';
    *p++ = (char)('0' + ms / 100);
    p = d2(p, ms % 100);
    *p++ = 'Z';
    *p = '\0';
}

void time_http_date(int64_t unix_s, char out[32])
{
    struct tm tm;
    utc(unix_s, &tm);
    char *p = str(out, DAY[tm.tm_wday]);
    p = str(p, ", ");
    p = d2(p, tm.tm_mday);
    *p++ = ' ';
    p = str(p, MON[tm.tm_mon]);
    *p++ = ' ';
    p = d4(p, tm.tm_year + 1900);
    *p++ = ' ';
    p = d2(p, tm.tm_hour);
    *p++ = ':';
    p = d2(p, tm.tm_min);
    *p++ = ':';
    p = d2(p, tm.tm_sec);
    p = str(p, " GMT");
    *p = '\0';
}
