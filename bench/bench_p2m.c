/* SPDX-License-Identifier: MIT */
/*
 * p2m benchmarks, EPT format (4 levels) on the hosted layer. Each has a
 * baseline doing the same work the simplest possible way, in the same run:
 *
 *  p2m.lookup.4k.4G       random lookups in a 4 GiB guest mapped with 4K
 *                         pages, vs a hand-written raw 4-level walk over the
 *                         same tables (through a direct map: pa + delta).
 *  p2m.lookup_unlocked... the same without the lock (independent lookups:
 *                         the raw walk's short loop keeps several cache
 *                         misses in flight; this measures throughput).
 *  p2m.lookup_dependent.. each gfn computed from the previous result, so
 *                         misses cannot overlap: the latency of one lookup.
 *  p2m.map.4k.<size>      mapping with 4K pages (mfn misaligned on purpose)
 *                         through vc_p2m_map, vs a plain loop writing the
 *                         same leaf entries into preallocated tables; three
 *                         sizes show the cost is linear in pages.
 *  p2m.map.aligned.64G    64 GiB mapped with 1G superpages, vs writing the
 *                         64 leaf entries directly.
 *  p2m.logdirty.4G        change_type ram_rw -> ram_logdirty over a 4 GiB
 *                         guest of 4K pages, vs a loop rewriting the entries.
 *  p2m.memory.4k          table bytes per GiB mapped with 4K pages, vs the
 *                         hardware tables alone (4 KiB per 512 entries).
 */
#include <stdlib.h>
#include <string.h>
#include <virtcore/virtcore.h>

#include "bench.h"

#define GIB_FRAMES (UINT64_C(1) << 18)

struct env {
    const struct vc_host *host;
    struct vc_p2m *p;
};

/* One hosted instance for the whole run: like a long-running VMM, table
 * pages freed by one p2m are reused (already resident) by the next. */
static struct vc_hosted *hosted;

static int env_init(struct env *e)
{
    struct vc_p2m_config cfg = {.format = VC_P2M_FMT_EPT};

    cfg.fmt.ia_bits = 48;
    cfg.fmt.oa_bits = 46;
    if (!hosted && vc_hosted_create(NULL, &hosted))
        return -1;
    e->host = vc_hosted_host(hosted);
    return vc_p2m_create(e->host, &cfg, &e->p) ? -1 : 0;
}

static void env_fini(struct env *e)
{
    vc_p2m_destroy(e->p);
}

/* The EPT root's physical address and the direct-map delta (va - pa) the
 * baselines walk through. */
static uint64_t root_and_delta(const struct env *e, intptr_t *delta)
{
    uint64_t root_pa = vc_p2m_hw_pointer(e->p) & UINT64_C(0x000ffffffffff000);
    void *root_va = e->host->ops->phys_to_virt(e->host->cookie, vc_paddr(root_pa));

    *delta = (intptr_t)root_va - (intptr_t)root_pa;
    return root_pa;
}

static int map_4k(struct env *e, uint64_t frames)
{
    struct vc_flush f;
    int rc;

    vc_flush_init(&f);
    /* mfn = gfn + 1: never aligned, so every leaf is 4K */
    rc = vc_p2m_map(e->p, vc_gfn(0), vc_mfn(1), frames, VC_P2M_RAM_RW, VC_ACCESS_RWX, &f);
    vc_flush_complete(&f);
    return rc;
}

/* The raw walk: EPT, 4 levels, through a direct map (va = pa + delta). */
static inline uint64_t raw_walk(uint64_t root_pa, intptr_t delta, uint64_t gfn)
{
    uint64_t pa = root_pa;

    for (int level = 3;; level--) {
        const uint64_t *t = (const uint64_t *)(intptr_t)((intptr_t)pa + delta);
        uint64_t e = t[(gfn >> (9 * level)) & 511];
        if (!(e & 7))
            return UINT64_MAX;
        pa = e & UINT64_C(0x000ffffffffff000);
        if (level == 0 || (e & 0x80))
            return (pa >> 12) + (gfn & ((UINT64_C(1) << (9 * level)) - 1));
    }
}

static int bench_lookup(const struct bench_ctx *ctx, bool unlocked)
{
    struct env e;
    uint64_t frames = 4 * GIB_FRAMES, root_pa, *gfns, acc = 0, t0, t1, t2;
    unsigned int n = 1u << 20, reps = ctx->quick ? 1 : 4;
    intptr_t delta;

    if (env_init(&e) || map_4k(&e, frames))
        return -1;
    root_pa = root_and_delta(&e, &delta);
    gfns = malloc(n * sizeof(*gfns));
    srand(7);
    for (unsigned int i = 0; i < n; i++)
        gfns[i] = ((uint64_t)rand() << 16 ^ (uint64_t)rand()) % frames;
    /* Sanity: both walks agree. */
    for (unsigned int i = 0; i < 1000; i++) {
        struct vc_p2m_entry en;
        vc_p2m_lookup(e.p, vc_gfn(gfns[i]), &en);
        if (vc_mfn_x(en.mfn) != raw_walk(root_pa, delta, gfns[i]))
            return -1;
    }
    t0 = bench_now_ns();
    for (unsigned int r = 0; r < reps; r++)
        for (unsigned int i = 0; i < n; i++) {
            struct vc_p2m_entry en;
            if (unlocked)
                vc_p2m_lookup_unlocked(e.p, vc_gfn(gfns[i]), &en);
            else
                vc_p2m_lookup(e.p, vc_gfn(gfns[i]), &en);
            acc += vc_mfn_x(en.mfn);
        }
    t1 = bench_now_ns();
    for (unsigned int r = 0; r < reps; r++)
        for (unsigned int i = 0; i < n; i++)
            acc += raw_walk(root_pa, delta, gfns[i]);
    t2 = bench_now_ns();
    bench_sink(acc);
    bench_report(unlocked ? "p2m.lookup_unlocked.4k.4G" : "p2m.lookup.4k.4G", "ns/lookup",
                 (double)(t1 - t0) / ((double)n * reps), (double)(t2 - t1) / ((double)n * reps));
    free(gfns);
    env_fini(&e);
    return 0;
}

/* Latency: each gfn depends on the previous lookup's result, so misses
 * cannot overlap (a fault handler does one lookup at a time). */
static int bench_lookup_dependent(const struct bench_ctx *ctx)
{
    struct env e;
    uint64_t frames = 4 * GIB_FRAMES, root_pa, gfn, acc = 0, t0, t1, t2;
    unsigned int n = ctx->quick ? 1u << 18 : 1u << 21;
    intptr_t delta;

    if (env_init(&e) || map_4k(&e, frames))
        return -1;
    root_pa = root_and_delta(&e, &delta);
    gfn = 12345;
    t0 = bench_now_ns();
    for (unsigned int i = 0; i < n; i++) {
        struct vc_p2m_entry en;
        vc_p2m_lookup_unlocked(e.p, vc_gfn(gfn), &en);
        gfn = (vc_mfn_x(en.mfn) * UINT64_C(0x9e3779b97f4a7c15) >> 20) % frames;
        acc += gfn;
    }
    t1 = bench_now_ns();
    gfn = 12345;
    for (unsigned int i = 0; i < n; i++) {
        uint64_t mfn = raw_walk(root_pa, delta, gfn);
        gfn = (mfn * UINT64_C(0x9e3779b97f4a7c15) >> 20) % frames;
        acc -= gfn;
    }
    t2 = bench_now_ns();
    if (acc != 0) /* both chains must have visited the same gfns */
        return -1;
    bench_report("p2m.lookup_dependent.4k.4G", "ns/lookup", (double)(t1 - t0) / n,
                 (double)(t2 - t1) / n);
    env_fini(&e);
    return 0;
}

static int bench_lookup_locked(const struct bench_ctx *ctx)
{
    return bench_lookup(ctx, false);
}

static int bench_lookup_unlocked(const struct bench_ctx *ctx)
{
    return bench_lookup(ctx, true);
}

/* Baseline for the 4K map: preallocated level-0 tables, leaf entries
 * written in a plain loop (the upper levels are not even built). */
static uint64_t plain_fill(uint64_t **tables, uint64_t frames, uint64_t first_raw)
{
    uint64_t t0 = bench_now_ns();

    for (uint64_t i = 0; i < frames; i++)
        tables[i >> 9][i & 511] = first_raw + (i << 12);
    return bench_now_ns() - t0;
}

static int bench_map_4k_size(const struct bench_ctx *ctx, uint64_t frames, const char *name)
{
    unsigned int reps = ctx->quick ? 1 : 3;
    uint64_t best = UINT64_MAX, best_plain = UINT64_MAX, first_raw;
    uint64_t ntables = frames / 512, **tables;
    struct vc_pte leaf = {.kind = VC_PTE_LEAF, .addr = 0x1000, .perms = VC_PERM_RWX,
                          .mt = VC_MT_WB, .type = VC_P2M_RAM_RW, .access = VC_ACCESS_RWX,
                          .sve = true};
    struct env e;

    if (env_init(&e))
        return -1;
    first_raw = vc_p2m_format(e.p)->encode(vc_p2m_format_cfg(e.p), 0, &leaf);
    env_fini(&e);
    tables = malloc(ntables * sizeof(*tables));
    for (uint64_t t = 0; t < ntables; t++)
        tables[t] = aligned_alloc(4096, 4096);
    /* A first, unmeasured map faults in the host's pages. */
    if (env_init(&e) || map_4k(&e, frames))
        return -1;
    env_fini(&e);
    for (unsigned int r = 0; r < reps; r++) {
        uint64_t t0, dt;

        if (env_init(&e))
            return -1;
        t0 = bench_now_ns();
        if (map_4k(&e, frames))
            return -1;
        dt = bench_now_ns() - t0;
        best = dt < best ? dt : best;
        env_fini(&e);
        dt = plain_fill(tables, frames, first_raw);
        best_plain = dt < best_plain ? dt : best_plain;
    }
    bench_sink(tables[ntables - 1][511]);
    for (uint64_t t = 0; t < ntables; t++)
        free(tables[t]);
    free(tables);
    bench_report(name, "ns/page", (double)best / (double)frames,
                 (double)best_plain / (double)frames);
    return 0;
}

static int bench_map_4k_256m(const struct bench_ctx *ctx)
{
    return bench_map_4k_size(ctx, GIB_FRAMES / 4, "p2m.map.4k.256M");
}

static int bench_map_4k_1g(const struct bench_ctx *ctx)
{
    return bench_map_4k_size(ctx, GIB_FRAMES, "p2m.map.4k.1G");
}

static int bench_map_4k_4g(const struct bench_ctx *ctx)
{
    if (ctx->quick)
        return 0;
    return bench_map_4k_size(ctx, 4 * GIB_FRAMES, "p2m.map.4k.4G");
}

static int bench_map_aligned(const struct bench_ctx *ctx)
{
    unsigned int reps = ctx->quick ? 10 : 200;
    uint64_t frames = 64 * GIB_FRAMES, best = UINT64_MAX, best_plain = UINT64_MAX;
    static uint64_t root[512];
    struct vc_pte leaf = {.kind = VC_PTE_LEAF, .perms = VC_PERM_RWX, .mt = VC_MT_WB,
                          .type = VC_P2M_RAM_RW, .access = VC_ACCESS_RWX, .sve = true};
    struct env e;
    uint64_t first_raw;

    if (env_init(&e))
        return -1;
    first_raw = vc_p2m_format(e.p)->encode(vc_p2m_format_cfg(e.p), 2, &leaf);
    env_fini(&e);
    for (unsigned int r = 0; r < reps; r++) {
        struct vc_flush f;
        uint64_t t0, dt;

        if (env_init(&e))
            return -1;
        vc_flush_init(&f);
        t0 = bench_now_ns();
        if (vc_p2m_map(e.p, vc_gfn(0), vc_mfn(0), frames, VC_P2M_RAM_RW, VC_ACCESS_RWX, &f))
            return -1;
        dt = bench_now_ns() - t0;
        vc_flush_complete(&f);
        best = dt < best ? dt : best;
        env_fini(&e);
        /* baseline: the 64 1G leaves written into a preallocated table */
        t0 = bench_now_ns();
        for (uint64_t i = 0; i < 64; i++)
            root[i] = first_raw + (i << 30);
        __asm__ volatile("" ::: "memory");
        dt = bench_now_ns() - t0;
        best_plain = dt < best_plain ? dt : best_plain;
    }
    bench_sink(root[63]);
    bench_report("p2m.map.aligned.64G", "ns/op", (double)best, (double)best_plain);
    return 0;
}

static int bench_logdirty(const struct bench_ctx *ctx)
{
    uint64_t frames = (ctx->quick ? 1 : 4) * GIB_FRAMES, t0, dt_engine, dt_plain, n = 0;
    struct vc_flush f;
    struct env e;
    intptr_t delta;
    uint64_t root_pa;

    if (env_init(&e) || map_4k(&e, frames))
        return -1;
    vc_flush_init(&f);
    t0 = bench_now_ns();
    if (vc_p2m_change_type(e.p, vc_gfn(0), frames, VC_P2M_RAM_RW, VC_P2M_RAM_LOGDIRTY, &f))
        return -1;
    dt_engine = bench_now_ns() - t0;
    vc_flush_complete(&f);
    /* Baseline: walk the same tables and clear W in every leaf (all that
     * dirty logging needs from the hardware entries), in a plain loop. */
    root_pa = root_and_delta(&e, &delta);
    t0 = bench_now_ns();
    for (uint64_t g = 0; g < frames; g += 512) {
        uint64_t pa = root_pa, *t;
        for (int level = 3; level > 0; level--) {
            t = (uint64_t *)(intptr_t)((intptr_t)pa + delta);
            pa = t[(g >> (9 * level)) & 511] & UINT64_C(0x000ffffffffff000);
        }
        t = (uint64_t *)(intptr_t)((intptr_t)pa + delta);
        for (int i = 0; i < 512; i++) {
            t[i] &= ~UINT64_C(2);
            n++;
        }
    }
    dt_plain = bench_now_ns() - t0;
    bench_sink(n);
    bench_report(ctx->quick ? "p2m.logdirty.4k.1G" : "p2m.logdirty.4k.4G", "ns/page",
                 (double)dt_engine / (double)frames, (double)dt_plain / (double)frames);
    env_fini(&e);
    return 0;
}

static int bench_memory(const struct bench_ctx *ctx)
{
    struct vc_p2m_stats st;
    struct env e;
    uint64_t frames = GIB_FRAMES, hw = 0;

    (void)ctx;
    if (env_init(&e) || map_4k(&e, frames))
        return -1;
    vc_p2m_stats(e.p, &st);
    for (unsigned int l = 0; l < 6; l++)
        hw += st.tables[l] * 4096;
    bench_report("p2m.memory.4k", "bytes/GiB", (double)st.table_bytes, (double)hw);
    env_fini(&e);
    return 0;
}

const struct bench bench_p2m[] = {
    {"p2m.lookup.4k.4G", bench_lookup_locked},
    {"p2m.lookup_unlocked.4k.4G", bench_lookup_unlocked},
    {"p2m.lookup_dependent.4k.4G", bench_lookup_dependent},
    {"p2m.map.4k.256M", bench_map_4k_256m},
    {"p2m.map.4k.1G", bench_map_4k_1g},
    {"p2m.map.4k.4G", bench_map_4k_4g},
    {"p2m.map.aligned.64G", bench_map_aligned},
    {"p2m.logdirty.4k", bench_logdirty},
    {"p2m.memory.4k", bench_memory},
    {NULL, NULL},
};
