/* hist.h: a log-linear latency histogram (microseconds, ~1.6% resolution) and its JSON form. */
#ifndef PORTICO_BENCH_HIST_H
#define PORTICO_BENCH_HIST_H

#include <stdint.h>
#include <stdio.h>

/*
 * Values below 128 us get a bucket each; above, every power of two is split into 64 buckets.
 * bench/bench.py decodes the same layout (hist_bucket_low), so histograms from several load
 * processes merge by adding counts. Values past the last bucket land in it.
 */
#define HIST_LINEAR  128
#define HIST_SUB     64
#define HIST_BUCKETS (HIST_LINEAR + HIST_SUB * 36)

typedef struct hist {
    uint64_t n;
    uint64_t max_us;
    uint64_t counts[HIST_BUCKETS];
} hist_t;

void hist_add(hist_t *h, uint64_t us);
/* Adds the nanosecond interval [from, to) (clamped at 0). */
void hist_add_ns(hist_t *h, int64_t from_ns, int64_t to_ns);
/* Lower bound (us) of a bucket. */
uint64_t hist_bucket_low(int idx);
/* The value (us) below which a fraction q of the samples fall; 0 when empty. */
uint64_t hist_quantile(const hist_t *h, double q);
/* Writes {"n":N,"max":M,"b":[[idx,count],...]} (sparse). */
void hist_write_json(const hist_t *h, FILE *f);

#endif
