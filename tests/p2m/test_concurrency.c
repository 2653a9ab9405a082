/* SPDX-License-Identifier: MIT */
/*
 * Concurrency stress of the p2m on the hosted host (real pthread locks and
 * the thread-local lock-order tracker): one writer thread keeps remapping a
 * set of guest frames between two machine-frame sets A and B, splitting and
 * merging a 2 MiB superpage (by restricting one page's access and restoring
 * it), remapping whole superpages and unmapping parts, while reader threads
 * look the same frames up with vc_p2m_lookup_unlocked() (mostly) and
 * vc_p2m_lookup().
 *
 * Oracle: every lookup succeeds and returns a legal state of its frame
 * G + i: unmapped, or RAM_RW mapped to A + i or B + i with an access the
 * writer uses (rwx or r), suppress-#VE set (maps set it and nobody clears
 * it), effective rights equal to type AND access, encoded permissions never
 * above them and write-back memory. An unmapped answer is legal at any time
 * (the writer unmaps, and break-before-make formats invalidate an entry
 * before rewriting it); a mix of two states is not.
 *
 * vc_p2m_lookup_unlocked() is only safe if tables the writer frees are
 * released after every lookup that could still reach them has finished.
 * The writer therefore completes each flush (vc_flush_complete(), which
 * returns the tables to the host) only after a reader quiescence point,
 * RCU style: after each change it bumps an epoch and queues the flush
 * tagged with it; readers acknowledge the current epoch between two
 * lookups; a queued flush is completed once every reader has acknowledged
 * its epoch, i.e. every lookup that could have reached the unlinked tables
 * has returned. The writer does not wait for that (it reaps finished grace
 * periods after each change) unless the queue is full, so reader
 * scheduling does not throttle it.
 *
 * At the end vc_p2m_audit() must pass, the lock-order tracker of every
 * thread must show no violation and nothing held, the library must not
 * have logged an error, and after destruction the hosted layer must hold
 * no page-table bytes or objects.
 *
 * The run is bounded: the writer stops after a time budget per case (or an
 * iteration cap) and the readers stop when it does.
 */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p2m_test.h"

void p2m_add_concurrency_tests(Suite *s);

#define NREADERS 3
#define CC_GFN UINT64_C(0x40000)   /* 1 GiB-aligned guest frame */
#define CC_FRAMES 1024u            /* two 2 MiB superpages */
#define CC_MFN_A UINT64_C(0x100000)
#define CC_MFN_B UINT64_C(0x200000)
#define BUDGET_NS UINT64_C(350000000) /* writer time per case */
#define MAX_ITERS 200000ul
#define PENDING 1024u                 /* queued flushes awaiting a grace period */

struct cc_case {
    const char *name;
    enum vc_p2m_format_id id;
    struct vc_p2m_format_cfg fmt;
    bool direct_map; /* let the host offer its direct map (lookup fast path) */
};

static const struct cc_case cc_cases[] = {
    {"ept4-direct-map", VC_P2M_FMT_EPT, {.ia_bits = 48, .oa_bits = 46}, true},
    {"ept4-no-direct-map", VC_P2M_FMT_EPT, {.ia_bits = 48, .oa_bits = 46}, false},
    /* side array for access/sve, break-before-make */
    {"arm-4k-40", VC_P2M_FMT_ARM_S2, {.ia_bits = 40, .oa_bits = 40}, true},
    {"x86-64", VC_P2M_FMT_X86_64, {.ia_bits = 48, .oa_bits = 46}, true},
};

/* ---- shared state -------------------------------------------------------------- */

struct cc {
    struct vc_hosted *hosted;
    struct vc_host_ops ops; /* the hosted ops, possibly without the direct map */
    struct vc_host host;
    struct vc_p2m *p;

    atomic_bool stop;
    atomic_ulong epoch;          /* bumped by the writer after each change */
    atomic_ulong ack[NREADERS];  /* epoch each reader has passed a quiescent point in */
    /* writer only: flushes waiting for their grace period, oldest first */
    struct {
        struct vc_flush f;
        unsigned long epoch;
    } pending[PENDING];
    unsigned int pend_head, pend_n;
    unsigned long changes;

    /* results */
    atomic_ulong errors;         /* illegal lookups, failed ops */
    atomic_flag msg_taken;
    char msg[256];               /* the first error */
    unsigned long lookups[NREADERS];
    /* states seen by all readers: unmapped, on A, on B, access r (for the
     * failure message) */
    atomic_ulong seen[4];
    unsigned long bbm_calls;
    unsigned long violations[NREADERS];
    unsigned int depth[NREADERS];
};

static atomic_ulong cc_error_logs;

static void cc_log(void *cookie, enum vc_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void cc_log(void *cookie, enum vc_log_level level, const char *fmt, va_list ap)
{
    (void)cookie;
    (void)fmt;
    (void)ap;
    if (level == VC_LOG_ERROR) /* a lock-order violation, for one */
        atomic_fetch_add(&cc_error_logs, 1);
}

/* Threads must not ck_assert: record the first failure for the main thread. */
static void cc_error(struct cc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cc_error(struct cc *c, const char *fmt, ...)
{
    va_list ap;

    atomic_fetch_add(&c->errors, 1);
    if (atomic_flag_test_and_set(&c->msg_taken))
        return;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- readers ------------------------------------------------------------------------ */

struct reader_arg {
    struct cc *c;
    unsigned int id;
};

/* Whether @e is a legal answer for frame CC_GFN + i. */
static void check_state(struct cc *c, uint64_t i, int rc, const struct vc_p2m_entry *e,
                        bool locked, unsigned long *counts)
{
    const char *how = locked ? "lookup" : "lookup_unlocked";
    uint64_t mfn = vc_mfn_x(e->mfn);

    if (rc != 0) {
        cc_error(c, "%s(G+%llu): %s", how, (unsigned long long)i, vc_errname(rc));
        return;
    }
    if (e->type == VC_P2M_INVALID) {
        if (vc_mfn_valid(e->mfn) || e->rights != 0)
            cc_error(c, "%s(G+%llu): unmapped with mfn %#llx rights %#x", how,
                     (unsigned long long)i, (unsigned long long)mfn, e->rights);
        counts[0]++;
        return;
    }
    if (e->type != VC_P2M_RAM_RW || (mfn != CC_MFN_A + i && mfn != CC_MFN_B + i) ||
        (e->access != VC_ACCESS_RWX && e->access != VC_ACCESS_R) || !e->sve ||
        e->rights != vc_p2m_rights(e->type, e->access) || (e->hw_perms & ~e->rights) ||
        e->mt != VC_MT_WB) {
        cc_error(c,
                 "%s(G+%llu): illegal state: type %u mfn %#llx (A+i %#llx, B+i %#llx) "
                 "access %u sve %d rights %#x hw_perms %#x mt %u",
                 how, (unsigned long long)i, (unsigned int)e->type, (unsigned long long)mfn,
                 (unsigned long long)(CC_MFN_A + i), (unsigned long long)(CC_MFN_B + i),
                 (unsigned int)e->access, e->sve, e->rights, e->hw_perms, (unsigned int)e->mt);
        return;
    }
    counts[mfn == CC_MFN_A + i ? 1 : 2]++;
    if (e->access == VC_ACCESS_R)
        counts[3]++;
}

static void *reader(void *arg)
{
    struct reader_arg *ra = arg;
    struct cc *c = ra->c;
    uint64_t rng = UINT64_C(0x9e3779b97f4a7c15) * (ra->id + 1);
    unsigned long n = 0, counts[4] = {0};
    struct vc_lock_tracker *t;

    while (!atomic_load(&c->stop)) {
        /* Quiescent point: no lookup of this thread is in flight, so every
         * table unlinked before the epoch we read may be freed. */
        atomic_store(&c->ack[ra->id], atomic_load(&c->epoch));
        for (unsigned int k = 0; k < 16; k++) {
            struct vc_p2m_entry e;
            uint64_t i;
            bool locked;
            int rc;

            rng ^= rng >> 12;
            rng ^= rng << 25;
            rng ^= rng >> 27;
            i = (rng * UINT64_C(2685821657736338717)) >> 32;
            locked = (i & 7) == 0;
            i %= CC_FRAMES;
            memset(&e, 0xa5, sizeof(e));
            rc = locked ? vc_p2m_lookup(c->p, vc_gfn(CC_GFN + i), &e)
                        : vc_p2m_lookup_unlocked(c->p, vc_gfn(CC_GFN + i), &e);
            check_state(c, i, rc, &e, locked, counts);
            n++;
        }
    }
    /* Gone: never hold the writer up again. */
    atomic_store(&c->ack[ra->id], ULONG_MAX);
    c->lookups[ra->id] = n;
    for (unsigned int k = 0; k < 4; k++)
        atomic_fetch_add(&c->seen[k], counts[k]);
    t = c->host.ops->lock_tracker ? c->host.ops->lock_tracker(c->host.cookie) : NULL;
    c->violations[ra->id] = t ? t->violations : 0;
    c->depth[ra->id] = t ? t->depth : 0;
    return NULL;
}

/* ---- the writer ---------------------------------------------------------------------- */

/*
 * Break-before-make invalidation. Nothing caches this p2m but the readers,
 * which read the (already invalid) entry itself, so there is nothing to
 * invalidate; this only counts the breaks.
 */
static void cc_bbm(void *arg, vc_gfn_t gfn, unsigned int order)
{
    struct cc *c = arg;

    (void)gfn;
    (void)order;
    c->bbm_calls++;
}

/* The oldest epoch not yet acknowledged by every reader. */
static unsigned long grace_done(struct cc *c)
{
    unsigned long done = ULONG_MAX;

    for (unsigned int r = 0; r < NREADERS; r++) {
        unsigned long a = atomic_load(&c->ack[r]);
        if (a < done)
            done = a;
    }
    return done;
}

/* Complete the queued flushes whose grace period is over; with @wait_all,
 * wait for all of them. */
static void reap(struct cc *c, bool wait_all)
{
    while (c->pend_n) {
        unsigned int h = c->pend_head;

        if (grace_done(c) < c->pending[h].epoch) {
            if (!wait_all && c->pend_n < PENDING)
                return;
            sched_yield(); /* queue full (or draining): wait for the readers */
            continue;
        }
        vc_flush_complete(&c->pending[h].f);
        c->pend_head = (h + 1) % PENDING;
        c->pend_n--;
    }
}

/* Finish one change: its freed tables go back after a grace period. */
static void settle(struct cc *c, int rc, const char *what, struct vc_flush *f)
{
    unsigned int slot;

    if (rc != 0)
        cc_error(c, "writer: %s: %s", what, vc_errname(rc));
    c->changes++;
    reap(c, false); /* makes room if the queue is full */
    slot = (c->pend_head + c->pend_n) % PENDING;
    /* Readers that acknowledge this epoch started their next lookups after
     * the change, so they cannot reach the tables it unlinked. */
    c->pending[slot].epoch = atomic_fetch_add(&c->epoch, 1) + 1;
    vc_flush_init(&c->pending[slot].f);
    vc_flush_merge(&c->pending[slot].f, f);
    c->pend_n++;
}

static void w_map(struct cc *c, uint64_t off, uint64_t nr, uint64_t mfn_base)
{
    struct vc_flush f;

    vc_flush_init(&f);
    settle(c, vc_p2m_map(c->p, vc_gfn(CC_GFN + off), vc_mfn(mfn_base + off), nr,
                         VC_P2M_RAM_RW, VC_ACCESS_RWX, &f), "map", &f);
}

static void w_access(struct cc *c, uint64_t off, uint64_t nr, enum vc_p2m_access a)
{
    struct vc_flush f;

    vc_flush_init(&f);
    settle(c, vc_p2m_set_access(c->p, vc_gfn(CC_GFN + off), nr, a, &f), "set_access", &f);
}

static void w_unmap(struct cc *c, uint64_t off, uint64_t nr)
{
    struct vc_flush f;

    vc_flush_init(&f);
    settle(c, vc_p2m_unmap(c->p, vc_gfn(CC_GFN + off), nr, &f), "unmap", &f);
}

static unsigned long writer(struct cc *c)
{
    uint64_t t0 = now_ns();
    unsigned long k;

    for (k = 0; k < MAX_ITERS && now_ns() - t0 < BUDGET_NS; k++) {
        uint64_t j = (k * 37) % 512;

        /* Both superpages on A. */
        w_map(c, 0, CC_FRAMES, CC_MFN_A);
        /* Split superpage 0 by restricting one page, merge it back. */
        w_access(c, j, 1, VC_ACCESS_R);
        w_access(c, j, 1, VC_ACCESS_RWX);
        /* Part of superpage 1 to B: a split with mixed A/B pages. */
        w_map(c, 512 + k % 64, 8 + k % 57, CC_MFN_B);
        /* Superpage 0 remapped to B as a whole (break-before-make on ARM). */
        w_map(c, 0, 512, CC_MFN_B);
        /* A hole: split and partial unmap. */
        w_unmap(c, (k * 13) % 400, 100);
        /* Everything on B: the split tables merge back and are freed. */
        w_map(c, 0, CC_FRAMES, CC_MFN_B);
        /* A whole superpage restricted, then remapped to A. */
        w_access(c, 512, 512, VC_ACCESS_R);
        w_map(c, 512, 512, CC_MFN_A);
        /* Nothing: every table but the root goes. */
        if (k % 4 == 3)
            w_unmap(c, 0, CC_FRAMES);
        if (atomic_load(&c->errors))
            break;
    }
    return k;
}

/* ---- the test ------------------------------------------------------------------------ */

START_TEST(p2m_concurrent_lookups)
{
    const struct cc_case *cs = &cc_cases[_i];
    struct vc_hosted_config hc = {0};
    struct vc_p2m_config cfg = {0};
    struct reader_arg ra[NREADERS];
    pthread_t th[NREADERS];
    struct vc_hosted_stats st;
    struct vc_lock_tracker *t;
    struct vc_flush f;
    const char *msg = NULL;
    unsigned long iters;
    struct cc *c;
    int rc;

    c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    atomic_store(&cc_error_logs, 0);
    hc.arena_size = UINT64_C(256) << 20;
    hc.quiet = true;
    ck_assert_int_eq(vc_hosted_create(&hc, &c->hosted), 0);
    c->host = *vc_hosted_host(c->hosted);
    c->ops = *c->host.ops;
    c->ops.log = cc_log;
    if (!cs->direct_map)
        c->ops.direct_map = NULL;
    c->host.ops = &c->ops;

    cfg.format = cs->id;
    cfg.fmt = cs->fmt;
    cfg.bbm_flush = cc_bbm; /* required on ARM; accepted elsewhere */
    cfg.bbm_arg = c;
    rc = vc_p2m_create(&c->host, &cfg, &c->p);
    ck_assert_msg(rc == 0, "%s: create: %s", cs->name, vc_errname(rc));

    atomic_store(&c->stop, false);
    atomic_store(&c->epoch, 0);
    for (unsigned int r = 0; r < NREADERS; r++) {
        atomic_store(&c->ack[r], 0);
        ra[r].c = c;
        ra[r].id = r;
        ck_assert_int_eq(pthread_create(&th[r], NULL, reader, &ra[r]), 0);
    }
    iters = writer(c);
    reap(c, true); /* while the readers still run */
    atomic_store(&c->stop, true);
    for (unsigned int r = 0; r < NREADERS; r++)
        ck_assert_int_eq(pthread_join(th[r], NULL), 0);

    ck_assert_msg(atomic_load(&c->errors) == 0,
                  "%s: %lu errors in writer round %lu (%lu bbm calls; seen: %lu unmapped, "
                  "%lu on A, %lu on B, %lu restricted); first: %s",
                  cs->name, (unsigned long)atomic_load(&c->errors), iters, c->bbm_calls,
                  (unsigned long)atomic_load(&c->seen[0]), (unsigned long)atomic_load(&c->seen[1]),
                  (unsigned long)atomic_load(&c->seen[2]), (unsigned long)atomic_load(&c->seen[3]),
                  c->msg);
    ck_assert_msg(iters > 0, "%s: the writer did not complete a round", cs->name);
    for (unsigned int r = 0; r < NREADERS; r++) {
        ck_assert_msg(c->lookups[r] > 0, "%s: reader %u did no lookups", cs->name, r);
        ck_assert_msg(c->violations[r] == 0 && c->depth[r] == 0,
                      "%s: reader %u lock tracker: %lu violations, depth %u", cs->name, r,
                      c->violations[r], c->depth[r]);
    }
    t = c->host.ops->lock_tracker ? c->host.ops->lock_tracker(c->host.cookie) : NULL;
    if (t)
        ck_assert_msg(t->violations == 0 && t->depth == 0,
                      "%s: writer lock tracker: %lu violations, depth %u", cs->name,
                      t->violations, t->depth);

    rc = vc_p2m_audit(c->p, &msg);
    ck_assert_msg(rc == 0, "%s: audit: %s", cs->name, msg ? msg : "?");
    /* Unmap everything; after the flush only the root is left. */
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_unmap(c->p, vc_gfn(CC_GFN), CC_FRAMES, &f), 0);
    vc_flush_complete(&f);
    rc = vc_p2m_audit(c->p, &msg);
    ck_assert_msg(rc == 0, "%s: audit after unmap: %s", cs->name, msg ? msg : "?");
    vc_p2m_destroy(c->p);
    vc_hosted_stats(c->hosted, &st);
    ck_assert_msg(st.pt_live_bytes == 0 && st.obj_live == 0,
                  "%s: %llu page-table bytes and %llu objects left", cs->name,
                  (unsigned long long)st.pt_live_bytes, (unsigned long long)st.obj_live);
    ck_assert_msg(atomic_load(&cc_error_logs) == 0, "%s: the library logged %lu errors",
                  cs->name, (unsigned long)atomic_load(&cc_error_logs));
    vc_hosted_destroy(c->hosted);
    free(c);
}
END_TEST

void p2m_add_concurrency_tests(Suite *s)
{
    TCase *tc = tcase_create("concurrency");

    tcase_add_loop_test(tc, p2m_concurrent_lookups, 0,
                        (int)(sizeof(cc_cases) / sizeof(cc_cases[0])));
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
}
