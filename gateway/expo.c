/* expo.c: the Prometheus text exposition format (version 0.0.4) and histogram arithmetic. */
#include "gateway/ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/*
 * Bucket bounds are microseconds. Latency buckets follow API Gateway's range: integrations
 * time out after at most 29 s. Loop lag buckets start at 50 us: a healthy worker turn is a few
 * microseconds to a few hundred.
 */
const int64_t gw_hist_latency_us[GW_HIST_N - 1] = {
    1000,   2500,   5000,    10000,   25000,   50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};
const int64_t gw_hist_lag_us[GW_HIST_N - 1] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
};

size_t gw_hist_bucket(const int64_t *bounds, int64_t v)
{
    /* Binary search for the first bound >= v; 4 steps for 14 bounds. */
    size_t lo = 0, hi = GW_HIST_N - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

uint64_t gw_hist_count(const gw_hist_snap_t *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i < GW_HIST_N; i++)
        n += h->b[i];
    return n;
}

double gw_hist_quantile(const gw_hist_snap_t *h, const int64_t *bounds, double q)
{
    uint64_t n = gw_hist_count(h);
    if (n == 0)
        return 0;
    double rank = q * (double)n;
    uint64_t cum = 0;
    for (size_t i = 0; i < GW_HIST_N; i++) {
        if (h->b[i] == 0 || (double)(cum + h->b[i]) < rank) {
            cum += h->b[i];
            continue;
        }
        if (i == GW_HIST_N - 1)
            return (double)bounds[GW_HIST_N - 2];
        double lo = i == 0 ? 0 : (double)bounds[i - 1];
        double hi = (double)bounds[i];
        double within = (rank - (double)cum) / (double)h->b[i];
        if (within < 0)
            within = 0;
        return lo + (hi - lo) * within;
    }
    return (double)bounds[GW_HIST_N - 2];
}

void gw_expo_family(buf_t *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s ", name);
    /* HELP text escapes only backslash and newline. */
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            buf_puts(out, "\\\\");
        else if (*p == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, *p);
    }
    buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

static void label_value(buf_t *out, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            buf_puts(out, "\\\\");
        else if (*p == '"')
            buf_puts(out, "\\\"");
        else if (*p == '\n')
            buf_puts(out, "\\n");
        else
            buf_putc(out, *p);
    }
}

/* name{labels[,extra_k="extra_v"]} with empty label values left out. */
static void series(buf_t *out, const char *name, const char *suffix, const char *const *labels,
                   const char *extra_k, const char *extra_v)
{
    buf_puts(out, name);
    if (suffix)
        buf_puts(out, suffix);
    bool any = false;
    for (size_t i = 0; labels && labels[i]; i += 2) {
        const char *v = labels[i + 1];
        if (!v || !*v)
            continue;
        buf_putc(out, any ? ',' : '{');
        any = true;
        buf_printf(out, "%s=\"", labels[i]);
        label_value(out, v);
        buf_putc(out, '"');
    }
    if (extra_k) {
        buf_putc(out, any ? ',' : '{');
        any = true;
        buf_printf(out, "%s=\"", extra_k);
        label_value(out, extra_v);
        buf_putc(out, '"');
    }
    if (any)
        buf_putc(out, '}');
}

void gw_expo_u64(buf_t *out, const char *name, const char *const *labels, uint64_t v)
{
    series(out, name, NULL, labels, NULL, NULL);
    buf_printf(out, " %llu\n", (unsigned long long)v);
}

static void put_f64(buf_t *out, double v)
{
    if (isnan(v))
        buf_puts(out, "NaN");
    else if (isinf(v))
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else
        buf_printf(out, "%.17g", v);
}

void gw_expo_f64(buf_t *out, const char *name, const char *const *labels, double v)
{
    series(out, name, NULL, labels, NULL, NULL);
    buf_putc(out, ' ');
    put_f64(out, v);
    buf_putc(out, '\n');
}

void gw_expo_hist(buf_t *out, const char *name, const char *const *labels, const gw_hist_snap_t *h,
                  const int64_t *bounds_us)
{
    uint64_t cum = 0;
    char le[32];
    for (size_t i = 0; i < GW_HIST_N; i++) {
        cum += h->b[i];
        if (i == GW_HIST_N - 1)
            snprintf(le, sizeof le, "+Inf");
        else
            snprintf(le, sizeof le, "%g", (double)bounds_us[i] / 1e6);
        series(out, name, "_bucket", labels, "le", le);
        buf_printf(out, " %llu\n", (unsigned long long)cum);
    }
    series(out, name, "_sum", labels, NULL, NULL);
    buf_putc(out, ' ');
    put_f64(out, (double)h->sum_us / 1e6);
    buf_putc(out, '\n');
    series(out, name, "_count", labels, NULL, NULL);
    buf_printf(out, " %llu\n", (unsigned long long)cum);
}
