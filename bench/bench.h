/* SPDX-License-Identifier: MIT */
/* virtcore-bench: benchmarks with a baseline measured in the same run. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>

struct bench_ctx {
    bool quick;          /* --quick: fewer iterations, same code paths */
};

struct bench {
    const char *name;
    /* Run the measured code and its baseline; report through bench_report(). */
    int (*run)(const struct bench_ctx *ctx);
};

uint64_t bench_now_ns(void);
/* Print one JSON line: {"bench":..., "unit":..., "value":..., "baseline":...,
 * "ratio": value / baseline}. */
void bench_report(const char *name, const char *unit, double value, double baseline);
/* Keep a value alive so the compiler cannot drop the computation. */
void bench_sink(uint64_t v);

extern const struct bench bench_core[];
extern const struct bench bench_p2m[];

#endif
