/* SPDX-License-Identifier: MIT */
/* Core benchmarks: cpumask operations against per-CPU loops. */
#include <stdlib.h>
#include <virtcore/cpumask.h>

#include "bench.h"

/* Weight of an 8192-CPU mask: word-wise popcount vs testing each CPU. */
static int bench_cpumask_weight(const struct bench_ctx *ctx)
{
    static uint64_t st[VC_CPUMASK_WORDS(8192)];
    struct vc_cpumask m;
    unsigned int iters = ctx->quick ? 2000 : 20000;
    uint64_t t0, t1, t2, acc = 0;

    vc_cpumask_init(&m, st, 8192);
    srand(42);
    for (unsigned int c = 0; c < 8192; c++)
        if (rand() % 4 == 0)
            vc_cpumask_set(&m, c);
    t0 = bench_now_ns();
    for (unsigned int i = 0; i < iters; i++) {
        acc += vc_cpumask_weight(&m);
        __asm__ volatile("" ::: "memory");
    }
    t1 = bench_now_ns();
    for (unsigned int i = 0; i < iters; i++) {
        unsigned int w = 0;
        for (unsigned int c = 0; c < 8192; c++)
            w += vc_cpumask_test(&m, c);
        acc += w;
        __asm__ volatile("" ::: "memory");
    }
    t2 = bench_now_ns();
    bench_sink(acc);
    bench_report("cpumask.weight.8192", "ns/op", (double)(t1 - t0) / iters,
                 (double)(t2 - t1) / iters);
    return 0;
}

/* Iterating a sparse mask (64 of 8192 CPUs): first/next vs testing each CPU. */
static int bench_cpumask_iterate(const struct bench_ctx *ctx)
{
    static uint64_t st[VC_CPUMASK_WORDS(8192)];
    struct vc_cpumask m;
    unsigned int iters = ctx->quick ? 2000 : 20000, cpu;
    uint64_t t0, t1, t2, acc = 0;

    vc_cpumask_init(&m, st, 8192);
    for (unsigned int c = 0; c < 8192; c += 128)
        vc_cpumask_set(&m, c);
    t0 = bench_now_ns();
    for (unsigned int i = 0; i < iters; i++) {
        vc_cpumask_for_each(cpu, &m) acc += cpu;
        __asm__ volatile("" ::: "memory");
    }
    t1 = bench_now_ns();
    for (unsigned int i = 0; i < iters; i++) {
        for (unsigned int c = 0; c < 8192; c++)
            if (vc_cpumask_test(&m, c))
                acc += c;
        __asm__ volatile("" ::: "memory");
    }
    t2 = bench_now_ns();
    bench_sink(acc);
    bench_report("cpumask.iterate.sparse.8192", "ns/op", (double)(t1 - t0) / iters,
                 (double)(t2 - t1) / iters);
    return 0;
}

const struct bench bench_core[] = {
    {"cpumask.weight.8192", bench_cpumask_weight},
    {"cpumask.iterate.sparse.8192", bench_cpumask_iterate},
    {NULL, NULL},
};
