/* hist.c: the log-linear latency histogram shared by the load generator and bench.py. */
#include "bench/hist.h"

static int bucket_of(uint64_t us)
{
    if (us < HIST_LINEAR)
        return (int)us;
    int msb = 63 - __builtin_clzll(us);
    int shift = msb - 6; /* HIST_SUB == 1 << 6 */
    int idx = HIST_LINEAR + (shift - 1) * HIST_SUB + (int)((us >> shift) - HIST_SUB);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

uint64_t hist_bucket_low(int idx)
{
    if (idx < HIST_LINEAR)
        return (uint64_t)idx;
    int shift = (idx - HIST_LINEAR) / HIST_SUB + 1;
    uint64_t m = (uint64_t)((idx - HIST_LINEAR) % HIST_SUB + HIST_SUB);
    return m << shift;
}

void hist_add(hist_t *h, uint64_t us)
{
    h->counts[bucket_of(us)]++;
    h->n++;
    if (us > h->max_us)
        h->max_us = us;
}

void hist_add_ns(hist_t *h, int64_t from_ns, int64_t to_ns)
{
    int64_t d = to_ns - from_ns;
    hist_add(h, d > 0 ? (uint64_t)d / 1000 : 0);
}

uint64_t hist_quantile(const hist_t *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t seen = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen > want)
            return hist_bucket_low(i);
    }
    return h->max_us;
}

void hist_write_json(const hist_t *h, FILE *f)
{
    fprintf(f, "{\"n\":%llu,\"max\":%llu,\"b\":[", (unsigned long long)h->n,
            (unsigned long long)h->max_us);
    const char *sep = "";
    for (int i = 0; i < HIST_BUCKETS; i++) {
        if (!h->counts[i])
            continue;
        fprintf(f, "%s[%d,%llu]", sep, i, (unsigned long long)h->counts[i]);
        sep = ",";
    }
    fputs("]}", f);
}
