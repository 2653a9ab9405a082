/* SPDX-License-Identifier: MIT */
/* Suite "core": errors, typed addresses, cpumask, flush requests, the
 * lock-order checker, the hosted layer and the test host itself. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <virtcore/virtcore.h>

#include "check_main.h"
#include "internal/core.h"
#include "testhost.h"

/* ---- errors ---------------------------------------------------------------- */

START_TEST(error_messages_distinct)
{
    for (int a = VC_ERROR_MIN; a <= 0; a++) {
        ck_assert_str_ne(vc_strerror(a), "unknown error");
        ck_assert_str_ne(vc_errname(a), "VC_E?");
        for (int b = VC_ERROR_MIN; b < a; b++) {
            ck_assert_str_ne(vc_strerror(a), vc_strerror(b));
            ck_assert_str_ne(vc_errname(a), vc_errname(b));
        }
    }
    ck_assert_str_eq(vc_strerror(0), "success");
    ck_assert_str_eq(vc_errname(VC_ENOMEM), "VC_ENOMEM");
    ck_assert_str_eq(vc_errname(VC_EPARTIAL), "VC_EPARTIAL");
}
END_TEST

START_TEST(error_unknown)
{
    ck_assert_str_eq(vc_strerror(1), "unknown error");
    ck_assert_str_eq(vc_strerror(VC_ERROR_MIN - 1), "unknown error");
    ck_assert_str_eq(vc_strerror(-2147483647 - 1), "unknown error");
    ck_assert_str_eq(vc_errname(12345), "VC_E?");
}
END_TEST

/* ---- typed addresses -------------------------------------------------------- */

START_TEST(types_roundtrip)
{
    vc_gfn_t g = vc_gfn(0x1234);
    vc_mfn_t m = vc_mfn(0xabcdef);

    ck_assert_uint_eq(vc_gfn_x(g), 0x1234);
    ck_assert_uint_eq(vc_gfn_x(vc_gfn_add(g, 0x10)), 0x1244);
    ck_assert(vc_mfn_eq(vc_paddr_to_mfn(vc_mfn_to_paddr(m)), m));
    ck_assert_uint_eq(vc_paddr_x(vc_mfn_to_paddr(m)), UINT64_C(0xabcdef000));
    ck_assert(!vc_mfn_valid(VC_INVALID_MFN));
    ck_assert(!vc_gfn_valid(VC_INVALID_GFN));
    ck_assert(!vc_dfn_valid(VC_INVALID_DFN));
    ck_assert(vc_dfn_valid(vc_dfn(0)));
    ck_assert(vc_dfn_eq(vc_dfn_add(vc_dfn(1), 1), vc_dfn(2)));
}
END_TEST

START_TEST(types_range_checks)
{
    ck_assert(vc_range_ok(0, 1, 1));
    ck_assert(!vc_range_ok(0, 0, 10));           /* empty */
    ck_assert(!vc_range_ok(10, 1, 10));          /* start at limit */
    ck_assert(!vc_range_ok(5, 6, 10));           /* end past limit */
    ck_assert(vc_range_ok(5, 5, 10));
    ck_assert(!vc_range_ok(UINT64_MAX - 1, 3, UINT64_MAX)); /* wraps */
    ck_assert(vc_order_aligned(0x200, 9));
    ck_assert(!vc_order_aligned(0x201, 9));
    ck_assert(vc_order_aligned(0x201, 0));
    ck_assert(!vc_order_aligned(0, 64));
}
END_TEST

/* ---- cpumask ----------------------------------------------------------------- */

static unsigned int ref_weight(const bool *ref, unsigned int n)
{
    unsigned int w = 0;
    for (unsigned int i = 0; i < n; i++)
        w += ref[i];
    return w;
}

START_TEST(cpumask_bounds)
{
    uint64_t st[VC_CPUMASK_WORDS(130)];
    struct vc_cpumask m;

    ck_assert_int_eq(vc_cpumask_init(&m, st, 0), VC_EINVAL);
    ck_assert_int_eq(vc_cpumask_init(&m, NULL, 10), VC_EINVAL);
    ck_assert_int_eq(vc_cpumask_init(&m, st, VC_CPUMASK_MAX_CPUS + 1), VC_EINVAL);
    ck_assert_int_eq(vc_cpumask_init(&m, st, 130), 0);
    ck_assert_int_eq(m.nr_words, 3);
    ck_assert_int_eq(vc_cpumask_set(&m, 130), VC_ERANGE);
    ck_assert_int_eq(vc_cpumask_clear(&m, 130), VC_ERANGE);
    ck_assert(!vc_cpumask_test(&m, 130));
    ck_assert(!vc_cpumask_test(&m, UINT32_MAX));
    ck_assert(vc_cpumask_empty(&m));
    ck_assert_uint_eq(vc_cpumask_first(&m), 130);
    ck_assert_int_eq(vc_cpumask_set(&m, 129), 0);
    ck_assert_uint_eq(vc_cpumask_first(&m), 129);
    ck_assert_uint_eq(vc_cpumask_next(&m, 129), 130);
    ck_assert_uint_eq(vc_cpumask_next(&m, UINT32_MAX), 130);
    /* set_all leaves the bits past nr_cpus clear */
    vc_cpumask_set_all(&m);
    ck_assert_uint_eq(vc_cpumask_weight(&m), 130);
    ck_assert_uint_eq(st[2], 0x3);
}
END_TEST

START_TEST(cpumask_ops_vs_reference)
{
    static const unsigned int sizes[] = {1, 63, 64, 65, 1000, 8192, 8193};
    srand(1);
    for (unsigned int si = 0; si < VC_ARRAY_SIZE(sizes); si++) {
        unsigned int n = sizes[si];
        uint64_t *sa = calloc(VC_CPUMASK_WORDS(n), 8), *sb = calloc(VC_CPUMASK_WORDS(n), 8),
                 *sd = calloc(VC_CPUMASK_WORDS(n), 8);
        bool *ra = calloc(n, 1), *rb = calloc(n, 1);
        struct vc_cpumask a, b, d;

        vc_cpumask_init(&a, sa, n);
        vc_cpumask_init(&b, sb, n);
        vc_cpumask_init(&d, sd, n);
        for (unsigned int i = 0; i < n; i++) {
            if (rand() % 3 == 0) {
                ra[i] = true;
                vc_cpumask_set(&a, i);
            }
            if (rand() % 5 == 0) {
                rb[i] = true;
                vc_cpumask_set(&b, i);
            }
        }
        ck_assert_uint_eq(vc_cpumask_weight(&a), ref_weight(ra, n));

        /* iteration visits exactly the set CPUs in order */
        unsigned int cpu, prev = 0, count = 0;
        bool first = true;
        vc_cpumask_for_each(cpu, &a)
        {
            ck_assert(ra[cpu]);
            ck_assert(first || cpu > prev);
            prev = cpu;
            first = false;
            count++;
        }
        ck_assert_uint_eq(count, ref_weight(ra, n));

        ck_assert_int_eq(vc_cpumask_and(&d, &a, &b), 0);
        for (unsigned int i = 0; i < n; i++)
            ck_assert_int_eq(vc_cpumask_test(&d, i), ra[i] && rb[i]);
        ck_assert_int_eq(vc_cpumask_or(&d, &a, &b), 0);
        for (unsigned int i = 0; i < n; i++)
            ck_assert_int_eq(vc_cpumask_test(&d, i), ra[i] || rb[i]);
        ck_assert(vc_cpumask_subset(&a, &d));
        ck_assert(vc_cpumask_subset(&b, &d));
        ck_assert_int_eq(vc_cpumask_andnot(&d, &a, &b), 0);
        for (unsigned int i = 0; i < n; i++)
            ck_assert_int_eq(vc_cpumask_test(&d, i), ra[i] && !rb[i]);
        ck_assert(!vc_cpumask_intersects(&d, &b));
        /* aliasing: a = a & b */
        ck_assert_int_eq(vc_cpumask_copy(&d, &a), 0);
        ck_assert(vc_cpumask_equal(&d, &a));
        ck_assert_int_eq(vc_cpumask_and(&d, &d, &b), 0);
        for (unsigned int i = 0; i < n; i++)
            ck_assert_int_eq(vc_cpumask_test(&d, i), ra[i] && rb[i]);
        free(sa);
        free(sb);
        free(sd);
        free(ra);
        free(rb);
    }
}
END_TEST

START_TEST(cpumask_size_mismatch)
{
    uint64_t s1[2], s2[2], s3[2];
    struct vc_cpumask a, b, d;

    vc_cpumask_init(&a, s1, 64);
    vc_cpumask_init(&b, s2, 65);
    vc_cpumask_init(&d, s3, 64);
    vc_cpumask_set(&a, 3);
    vc_cpumask_set(&b, 3);
    ck_assert_int_eq(vc_cpumask_and(&d, &a, &b), VC_EINVAL);
    ck_assert_int_eq(vc_cpumask_or(&d, &a, &b), VC_EINVAL);
    ck_assert_int_eq(vc_cpumask_andnot(&d, &a, &b), VC_EINVAL);
    ck_assert_int_eq(vc_cpumask_copy(&b, &a), VC_EINVAL);
    ck_assert(!vc_cpumask_equal(&a, &b));
    ck_assert(!vc_cpumask_intersects(&a, &b));
    ck_assert(!vc_cpumask_subset(&a, &b));
    ck_assert(vc_cpumask_empty(&d)); /* untouched by the refused ops */
}
END_TEST

START_TEST(cpumask_parse_format)
{
    uint64_t st[VC_CPUMASK_WORDS(8192)];
    struct vc_cpumask m;
    char buf[64];

    vc_cpumask_init(&m, st, 8192);
    ck_assert_int_eq(vc_cpumask_parse(&m, "0-3,8,64-191,8191"), 0);
    ck_assert_uint_eq(vc_cpumask_weight(&m), 4 + 1 + 128 + 1);
    ck_assert_int_eq(vc_cpumask_format(&m, buf, sizeof(buf)), (int)strlen("0-3,8,64-191,8191"));
    ck_assert_str_eq(buf, "0-3,8,64-191,8191");
    /* exact fit and one byte short */
    ck_assert_int_eq(vc_cpumask_format(&m, buf, 18), 17);
    ck_assert_int_eq(vc_cpumask_format(&m, buf, 17), VC_ENOSPC);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(vc_cpumask_format(&m, buf, 0), VC_ENOSPC);

    static const char *const bad[] = {"1-", "-1", "3-1", "1,,2", "a", "1 ", ",", "1,",
                                      "99999999999", "0-0x"};
    for (unsigned int i = 0; i < VC_ARRAY_SIZE(bad); i++) {
        vc_cpumask_clear_all(&m);
        int rc = vc_cpumask_parse(&m, bad[i]);
        ck_assert_msg(rc == VC_EINVAL || rc == VC_ERANGE, "'%s' gave %d", bad[i], rc);
        ck_assert_msg(vc_cpumask_empty(&m), "'%s' changed the mask", bad[i]);
    }
    ck_assert_int_eq(vc_cpumask_parse(&m, "0,8192"), VC_ERANGE);
    ck_assert(vc_cpumask_empty(&m)); /* all-or-nothing */
    ck_assert_int_eq(vc_cpumask_parse(&m, ""), 0);
    ck_assert_int_eq(vc_cpumask_format(&m, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(vc_cpumask_parse(&m, "0-8191"), 0);
    ck_assert_int_eq(vc_cpumask_format(&m, buf, sizeof(buf)), 6);
    ck_assert_str_eq(buf, "0-8191");
}
END_TEST

START_TEST(cpumask_format_parse_roundtrip)
{
    uint64_t s1[VC_CPUMASK_WORDS(300)], s2[VC_CPUMASK_WORDS(300)];
    struct vc_cpumask a, b;
    static char buf[4096];

    srand(7);
    for (int iter = 0; iter < 500; iter++) {
        vc_cpumask_init(&a, s1, 300);
        vc_cpumask_init(&b, s2, 300);
        for (int k = 0; k < 300; k++)
            if (rand() % (1 + iter % 7) == 0)
                vc_cpumask_set(&a, (unsigned int)k);
        ck_assert_int_ge(vc_cpumask_format(&a, buf, sizeof(buf)), 0);
        ck_assert_int_eq(vc_cpumask_parse(&b, buf), 0);
        ck_assert_msg(vc_cpumask_equal(&a, &b), "roundtrip of %s", buf);
    }
}
END_TEST

START_TEST(cpumask_create_fault_injection)
{
    struct testhost *t = testhost_new();
    struct vc_cpumask *m = NULL;
    unsigned long n;

    ck_assert_int_eq(vc_cpumask_create(NULL, 8, &m), VC_EINVAL);
    ck_assert_int_eq(vc_cpumask_create(testhost_host(t), 0, &m), VC_EINVAL);
    /* Fail each allocation site in turn: ENOMEM, nothing leaked. */
    for (n = 1;; n++) {
        testhost_fail_nth(t, n);
        int rc = vc_cpumask_create(testhost_host(t), 8192, &m);
        if (!testhost_injected(t)) {
            ck_assert_int_eq(rc, 0);
            break;
        }
        ck_assert_int_eq(rc, VC_ENOMEM);
        ck_assert_uint_eq(testhost_live(t), 0);
    }
    ck_assert_uint_eq(n, 3); /* two allocation sites */
    ck_assert_uint_eq(vc_cpumask_weight(m), 0);
    ck_assert_int_eq(vc_cpumask_set(m, 8191), 0);
    vc_cpumask_destroy(m);
    vc_cpumask_destroy(NULL);
    ck_assert_uint_eq(testhost_live(t), 0);
    ck_assert_uint_eq(testhost_errors(t), 0);
    testhost_free(t);
}
END_TEST

/* ---- flush requests ------------------------------------------------------------ */

START_TEST(flush_kind_max)
{
    struct vc_flush f;

    vc_flush_init(&f);
    ck_assert(!vc_flush_required(&f));
    vc_flush_add(&f, VC_FLUSH_NONE, 10, 5);
    ck_assert_int_eq(f.kind, VC_FLUSH_NONE);
    ck_assert_uint_eq(f.nr_ranges, 0);
    vc_flush_add(&f, VC_FLUSH_ADDED, 10, 5);
    ck_assert_int_eq(f.kind, VC_FLUSH_ADDED);
    ck_assert(!vc_flush_required(&f)); /* only caching-mode hardware cares */
    vc_flush_add(&f, VC_FLUSH_MODIFIED, 100, 1);
    vc_flush_add(&f, VC_FLUSH_ADDED, 200, 1);
    ck_assert_int_eq(f.kind, VC_FLUSH_MODIFIED);
    ck_assert(vc_flush_required(&f));
    ck_assert(vc_flush_covers(&f, 14));
    ck_assert(!vc_flush_covers(&f, 15));
    ck_assert(vc_flush_covers(&f, 200));
    ck_assert_str_eq(vc_flush_kind_name(f.kind), "modified");
    ck_assert_str_eq(vc_flush_kind_name((enum vc_flush_kind)9), "?");
}
END_TEST

START_TEST(flush_ranges_merge)
{
    struct vc_flush f;

    vc_flush_init(&f);
    vc_flush_add(&f, VC_FLUSH_MODIFIED, 10, 10); /* [10,20) */
    vc_flush_add(&f, VC_FLUSH_MODIFIED, 20, 5);  /* adjacent: [10,25) */
    ck_assert_uint_eq(f.nr_ranges, 1);
    ck_assert_uint_eq(f.ranges[0].start, 10);
    ck_assert_uint_eq(f.ranges[0].end, 25);
    vc_flush_add(&f, VC_FLUSH_MODIFIED, 0, 2);    /* before, with a gap */
    vc_flush_add(&f, VC_FLUSH_MODIFIED, 100, 10);
    vc_flush_add(&f, VC_FLUSH_MODIFIED, 50, 10);
    ck_assert_uint_eq(f.nr_ranges, 4);
    ck_assert_uint_eq(f.ranges[0].start, 0);
    ck_assert_uint_eq(f.ranges[3].start, 100);
    /* A fifth range: the closest pair ([0,2) and [10,25), gap 8) joins. */
    vc_flush_add(&f, VC_FLUSH_MODIFIED, 1000, 1);
    ck_assert_uint_eq(f.nr_ranges, 4);
    ck_assert_uint_eq(f.ranges[0].start, 0);
    ck_assert_uint_eq(f.ranges[0].end, 25);
    /* One range spanning all of them collapses the list. */
    vc_flush_add(&f, VC_FLUSH_MODIFIED, 0, 2000);
    ck_assert_uint_eq(f.nr_ranges, 1);
    ck_assert_uint_eq(f.ranges[0].end, 2000);
    /* A wrapping range is clamped, not lost. */
    vc_flush_init(&f);
    vc_flush_add(&f, VC_FLUSH_MODIFIED, UINT64_MAX - 1, 10);
    ck_assert(vc_flush_covers(&f, UINT64_MAX - 1));
    ck_assert_uint_eq(f.ranges[0].end, UINT64_MAX);
}
END_TEST

START_TEST(flush_ranges_cover_property)
{
    /* Random adds: every frame ever added stays covered, ranges stay
     * sorted, disjoint and non-adjacent. */
    srand(3);
    for (int iter = 0; iter < 2000; iter++) {
        struct vc_flush f;
        uint64_t added[32][2];
        int n = 1 + rand() % 32;

        vc_flush_init(&f);
        for (int i = 0; i < n; i++) {
            added[i][0] = (uint64_t)(rand() % 4096);
            added[i][1] = (uint64_t)(1 + rand() % 64);
            vc_flush_add(&f, VC_FLUSH_MODIFIED, added[i][0], added[i][1]);
        }
        ck_assert_uint_le(f.nr_ranges, VC_FLUSH_MAX_RANGES);
        for (unsigned int r = 0; r + 1 < f.nr_ranges; r++)
            ck_assert_uint_lt(f.ranges[r].end, f.ranges[r + 1].start);
        for (int i = 0; i < n; i++)
            for (uint64_t fr = added[i][0]; fr < added[i][0] + added[i][1]; fr++)
                ck_assert(vc_flush_covers(&f, fr));
    }
}
END_TEST

struct freed {
    struct vc_deferred_free node;
    int id;
    int *log;
    int *nlog;
};

static void release_cb(struct vc_deferred_free *node)
{
    struct freed *fr = vc_container_of(node, struct freed, node);
    fr->log[(*fr->nlog)++] = fr->id;
}

START_TEST(flush_deferred_free)
{
    struct vc_flush f, g;
    int log[8], nlog = 0;
    struct freed fr[4];

    for (int i = 0; i < 4; i++) {
        fr[i].node.release = release_cb;
        fr[i].id = i;
        fr[i].log = log;
        fr[i].nlog = &nlog;
    }
    vc_flush_init(&f);
    vc_flush_init(&g);
    vc_flush_defer_free(&f, &fr[0].node);
    vc_flush_defer_free(&f, &fr[1].node);
    ck_assert_int_eq(f.kind, VC_FLUSH_STRUCTURAL);
    ck_assert(vc_flush_required(&f));
    vc_flush_add(&g, VC_FLUSH_ADDED, 5, 1);
    vc_flush_defer_free(&g, &fr[2].node);
    vc_flush_defer_free(&g, &fr[3].node);
    vc_flush_merge(&f, &g);
    ck_assert_int_eq(g.kind, VC_FLUSH_NONE);
    ck_assert_ptr_null(g.deferred);
    ck_assert_uint_eq(f.nr_deferred, 4);
    ck_assert(vc_flush_covers(&f, 5));
    ck_assert_int_eq(nlog, 0); /* nothing released before the flush */
    vc_flush_complete(&f);
    ck_assert_int_eq(nlog, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(log[i], i); /* in deferral order */
    ck_assert_int_eq(f.kind, VC_FLUSH_NONE);
    ck_assert_ptr_null(f.deferred);
    vc_flush_complete(&f); /* idempotent on an empty request */
    ck_assert_int_eq(nlog, 4);
}
END_TEST

START_TEST(flush_whole)
{
    struct vc_flush f, g;

    vc_flush_init(&f);
    vc_flush_init(&g);
    vc_flush_add(&f, VC_FLUSH_MODIFIED, 1, 1);
    vc_flush_add_all(&f, VC_FLUSH_NONE);
    ck_assert(!f.whole);
    vc_flush_add_all(&g, VC_FLUSH_ADDED);
    vc_flush_merge(&f, &g);
    ck_assert(f.whole);
    ck_assert_uint_eq(f.nr_ranges, 0);
    ck_assert_int_eq(f.kind, VC_FLUSH_MODIFIED);
    ck_assert(vc_flush_covers(&f, UINT64_MAX));
    vc_flush_add(&f, VC_FLUSH_STRUCTURAL, 3, 1);
    ck_assert_uint_eq(f.nr_ranges, 0);
    ck_assert_int_eq(f.kind, VC_FLUSH_STRUCTURAL);
}
END_TEST

/* ---- lock-order checker ------------------------------------------------------- */

START_TEST(lockorder_rules)
{
    struct vc_lock_tracker t = {0};

    ck_assert_int_eq(vc_lock_order_acquire(&t, VC_LOCK_P2M), 0);
    ck_assert_int_eq(vc_lock_order_acquire(&t, VC_LOCK_ALTP2M_LIST), 0);
    ck_assert_int_eq(vc_lock_order_acquire(&t, VC_LOCK_ALTP2M_VIEW), 0);
    ck_assert_int_eq(vc_lock_order_acquire(&t, VC_LOCK_IOMMU), 0);
    ck_assert_uint_eq(t.violations, 0);
    /* Taking the host p2m while holding a view inverts the order. */
    ck_assert_int_eq(vc_lock_order_acquire(&t, VC_LOCK_P2M), VC_ELOCKORDER);
    ck_assert_uint_eq(t.violations, 1);
    ck_assert_uint_eq(t.last_wanted, VC_LOCK_P2M);
    ck_assert_int_eq(vc_lock_order_release(&t, VC_LOCK_P2M), 0);
    /* Two locks of one class nest badly too. */
    ck_assert_int_eq(vc_lock_order_acquire(&t, VC_LOCK_IOMMU), VC_ELOCKORDER);
    ck_assert_int_eq(vc_lock_order_release(&t, VC_LOCK_IOMMU), 0);
    /* Release out of LIFO order is allowed. */
    ck_assert_int_eq(vc_lock_order_release(&t, VC_LOCK_ALTP2M_LIST), 0);
    ck_assert_uint_eq(t.depth, 3);
    ck_assert_int_eq(vc_lock_order_release(&t, VC_LOCK_ALTP2M_LIST), VC_ENOENT);
    ck_assert_int_eq(vc_lock_order_release(&t, VC_LOCK_IOMMU), 0);
    ck_assert_int_eq(vc_lock_order_release(&t, VC_LOCK_ALTP2M_VIEW), 0);
    ck_assert_int_eq(vc_lock_order_release(&t, VC_LOCK_P2M), 0);
    ck_assert_uint_eq(t.depth, 0);
    /* Unchecked locks nest freely. */
    ck_assert_int_eq(vc_lock_order_acquire(&t, VC_LOCK_CLASS_NONE), 0);
    ck_assert_int_eq(vc_lock_order_acquire(&t, VC_LOCK_CLASS_NONE), 0);
    ck_assert_uint_eq(t.violations, 2);
}
END_TEST

START_TEST(lockorder_depth)
{
    struct vc_lock_tracker t = {0};

    for (unsigned int i = 0; i < VC_LOCK_TRACKER_DEPTH; i++)
        ck_assert_int_eq(vc_lock_order_acquire(&t, 100 + i), 0);
    ck_assert_int_eq(vc_lock_order_acquire(&t, 1000), VC_EOVERFLOW);
    ck_assert_uint_eq(t.depth, VC_LOCK_TRACKER_DEPTH);
}
END_TEST

START_TEST(lock_wrappers)
{
    struct testhost *t = testhost_new();
    const struct vc_host *h = testhost_host(t);
    struct vc_lock a, b;

    testhost_fail_nth(t, 1);
    ck_assert_int_eq(vc_lock_init(h, &a, VC_LOCK_P2M), VC_ENOMEM);
    ck_assert_uint_eq(testhost_live(t), 0);
    ck_assert_int_eq(vc_lock_init(h, &a, VC_LOCK_P2M), 0);
    ck_assert_int_eq(vc_lock_init(h, &b, VC_LOCK_ALTP2M_VIEW), 0);
    ck_assert_uint_eq(testhost_live_locks(t), 2);

    vc_lock_acquire(h, &a);
    vc_lock_acquire(h, &b);
    vc_lock_release(h, &b);
    vc_lock_release(h, &a);
    ck_assert_uint_eq(testhost_logs(t, VC_LOG_ERROR), 0);
    /* The wrong order is reported (in checker builds) but still locks. */
    vc_lock_acquire(h, &b);
    vc_lock_acquire(h, &a);
    vc_lock_release(h, &a);
    vc_lock_release(h, &b);
    ck_assert_uint_eq(testhost_logs(t, VC_LOG_ERROR), vc_lock_order_checking() ? 1 : 0);

    vc_lock_fini(h, &a);
    vc_lock_fini(h, &b);
    ck_assert_uint_eq(testhost_live(t), 0);
    testhost_free(t);
}
END_TEST

/* ---- hosted layer ------------------------------------------------------------- */

START_TEST(hosted_config_validation)
{
    struct vc_hosted *h;
    struct vc_hosted_config bad1 = {.phys_base = 4096};
    struct vc_hosted_config bad2 = {.arena_size = 12345};
    struct vc_hosted_config bad3 = {.phys_base = UINT64_C(1) << 52};
    struct vc_hosted_config bad4 = {.log_level = (enum vc_log_level)7};

    ck_assert_int_eq(vc_hosted_create(NULL, NULL), VC_EINVAL);
    ck_assert_int_eq(vc_hosted_create(&bad1, &h), VC_EINVAL);
    ck_assert_int_eq(vc_hosted_create(&bad2, &h), VC_EINVAL);
    ck_assert_int_eq(vc_hosted_create(&bad3, &h), VC_EINVAL);
    ck_assert_int_eq(vc_hosted_create(&bad4, &h), VC_EINVAL);
    vc_hosted_destroy(NULL);
}
END_TEST

START_TEST(hosted_pages)
{
    struct vc_hosted_config cfg = {.phys_base = UINT64_C(1) << 32,
                                   .arena_size = UINT64_C(1) << 30,
                                   .quiet = true};
    struct vc_hosted *h;
    const struct vc_host *host;
    struct vc_hosted_stats st;
    vc_paddr_t pa1, pa2, pa3;
    uint8_t *p1, *p2, *p3;

    ck_assert_int_eq(vc_hosted_create(&cfg, &h), 0);
    host = vc_hosted_host(h);
    ck_assert_int_eq(vc_host_check(host), 0);

    p1 = host->ops->pt_alloc(host->cookie, 4096, 4096, &pa1);
    ck_assert_ptr_nonnull(p1);
    ck_assert_uint_eq(vc_paddr_x(pa1) % 4096, 0);
    ck_assert_uint_ge(vc_paddr_x(pa1), cfg.phys_base);
    for (int i = 0; i < 4096; i++)
        ck_assert_uint_eq(p1[i], 0);
    /* A concatenated root: 16 pages aligned to 64 KiB. */
    p2 = host->ops->pt_alloc(host->cookie, 65536, 65536, &pa2);
    ck_assert_ptr_nonnull(p2);
    ck_assert_uint_eq(vc_paddr_x(pa2) % 65536, 0);
    ck_assert_ptr_eq(host->ops->phys_to_virt(host->cookie, pa2), p2);
    ck_assert_ptr_eq(host->ops->phys_to_virt(host->cookie, vc_paddr(vc_paddr_x(pa2) + 8200)),
                     p2 + 8200);
    /* Addresses outside the live pages are refused. */
    ck_assert_ptr_null(host->ops->phys_to_virt(host->cookie, vc_paddr(0)));
    ck_assert_ptr_null(host->ops->phys_to_virt(host->cookie, vc_paddr(vc_paddr_x(pa2) + 65536)));
    ck_assert_ptr_null(host->ops->phys_to_virt(host->cookie,
                                               vc_paddr(cfg.phys_base + cfg.arena_size)));
    vc_hosted_stats(h, &st);
    ck_assert_uint_eq(st.pt_live_bytes, 4096 + 65536);

    /* Freed pages are refused by phys_to_virt and come back zeroed. */
    memset(p1, 0xa5, 4096);
    host->ops->pt_free(host->cookie, p1, pa1, 4096);
    ck_assert_ptr_null(host->ops->phys_to_virt(host->cookie, pa1));
    p3 = host->ops->pt_alloc(host->cookie, 4096, 4096, &pa3);
    ck_assert_ptr_eq(p3, p1);
    for (int i = 0; i < 4096; i++)
        ck_assert_uint_eq(p3[i], 0);
    /* Bad requests fail cleanly. */
    ck_assert_ptr_null(host->ops->pt_alloc(host->cookie, 4096, 3, &pa1));
    ck_assert_ptr_null(host->ops->pt_alloc(host->cookie, 0, 4096, &pa1));
    host->ops->pt_free(host->cookie, p3, pa3, 4096);
    host->ops->pt_free(host->cookie, p2, pa2, 65536);
    vc_hosted_stats(h, &st);
    ck_assert_uint_eq(st.pt_live_bytes, 0);
    ck_assert_uint_eq(st.pt_peak_bytes, 4096 + 65536);
    ck_assert_uint_eq(st.pt_allocs, 3);
    ck_assert_uint_eq(st.pt_frees, 3);
    vc_hosted_destroy(h);
}
END_TEST

START_TEST(hosted_arena_exhaustion)
{
    struct vc_hosted_config cfg = {.arena_size = UINT64_C(1) << 20, .quiet = true};
    struct vc_hosted *h;
    const struct vc_host *host;
    vc_paddr_t pa;
    int n = 0;

    ck_assert_int_eq(vc_hosted_create(&cfg, &h), 0);
    host = vc_hosted_host(h);
    while (host->ops->pt_alloc(host->cookie, 4096, 4096, &pa))
        n++;
    ck_assert_int_eq(n, 256);
    vc_hosted_destroy(h); /* releases the leaked pages with the arena */
}
END_TEST

START_TEST(hosted_objects_locks_log)
{
    struct vc_hosted *h;
    struct vc_hosted_config cfg = {.quiet = true};
    const struct vc_host *host;
    struct vc_hosted_stats st;
    void *o, *l;

    ck_assert_int_eq(vc_hosted_create(&cfg, &h), 0);
    host = vc_hosted_host(h);
    o = host->ops->alloc(host->cookie, 100);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(((uint8_t *)o)[99], 0);
    l = host->ops->lock_create(host->cookie, VC_LOCK_P2M);
    host->ops->lock_acquire(host->cookie, l);
    host->ops->lock_release(host->cookie, l);
    host->ops->lock_destroy(host->cookie, l);
    ck_assert_ptr_nonnull(host->ops->lock_tracker(host->cookie));
    ck_assert_uint_gt(host->ops->now_ns(host->cookie), 0);
    vc_log(host, VC_LOG_ERROR, "quiet %d", 1);
    vc_hosted_stats(h, &st);
    ck_assert_uint_eq(st.obj_live, 1);
    ck_assert_uint_eq(st.log_messages, 1);
    host->ops->free(host->cookie, o, 100);
    vc_hosted_stats(h, &st);
    ck_assert_uint_eq(st.obj_live, 0);
    vc_hosted_destroy(h);
}
END_TEST

START_TEST(host_check_required_ops)
{
    struct testhost *t = testhost_new();
    struct vc_host_ops ops = *testhost_host(t)->ops;
    struct vc_host h = {&ops, NULL};

    ck_assert_int_eq(vc_host_check(NULL), VC_EINVAL);
    ck_assert_int_eq(vc_host_check(&h), 0);
    ops.phys_to_virt = NULL;
    ck_assert_int_eq(vc_host_check(&h), VC_EINVAL);
    ops = *testhost_host(t)->ops;
    ops.lock_release = NULL;
    ck_assert_int_eq(vc_host_check(&h), VC_EINVAL);
    ops.lock_create = NULL; /* no locks at all is fine */
    ck_assert_int_eq(vc_host_check(&h), 0);
    h.ops = NULL;
    ck_assert_int_eq(vc_host_check(&h), VC_EINVAL);
    testhost_free(t);
}
END_TEST

/* ---- the test host ------------------------------------------------------------ */

START_TEST(testhost_detects_misuse)
{
    struct testhost *t = testhost_new();
    const struct vc_host *h = testhost_host(t);
    vc_paddr_t pa;
    void *o = h->ops->alloc(h->cookie, 32);
    void *p = h->ops->pt_alloc(h->cookie, 4096, 4096, &pa);

    ck_assert_uint_eq(testhost_live_objects(t), 1);
    ck_assert_uint_eq(testhost_live_pages(t), 1);
    h->ops->free(h->cookie, o, 16); /* wrong size */
    ck_assert_uint_eq(testhost_errors(t), 1);
    h->ops->free(h->cookie, o, 32);
    h->ops->free(h->cookie, o, 32); /* double free */
    ck_assert_uint_eq(testhost_errors(t), 2);
    ck_assert(strstr(testhost_last_error(t), "unknown or already freed"));
    h->ops->free(h->cookie, p, 4096); /* page through the object op */
    ck_assert_uint_eq(testhost_errors(t), 3);
    ck_assert_ptr_null(h->ops->phys_to_virt(h->cookie, vc_paddr(1)));
    ck_assert_uint_eq(testhost_errors(t), 4);
    h->ops->pt_free(h->cookie, p, pa, 4096);
    ck_assert_uint_eq(testhost_live(t), 0);
    ck_assert_uint_eq(testhost_errors(t), 4);

    testhost_fail_nth(t, 2);
    ck_assert_ptr_nonnull(o = h->ops->alloc(h->cookie, 8));
    ck_assert(!testhost_injected(t));
    ck_assert_ptr_null(h->ops->pt_alloc(h->cookie, 4096, 4096, &pa));
    ck_assert(testhost_injected(t));
    ck_assert_ptr_nonnull(p = h->ops->pt_alloc(h->cookie, 4096, 4096, &pa));
    h->ops->free(h->cookie, o, 8);
    h->ops->pt_free(h->cookie, p, pa, 4096);
    ck_assert_uint_eq(testhost_live(t), 0);
    testhost_free(t);
}
END_TEST

START_TEST(version_matches)
{
    ck_assert_str_eq(vc_version(), VC_VERSION_STRING);
}
END_TEST

static Suite *core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc;

    tc = tcase_create("error");
    tcase_add_test(tc, error_messages_distinct);
    tcase_add_test(tc, error_unknown);
    tcase_add_test(tc, version_matches);
    suite_add_tcase(s, tc);

    tc = tcase_create("types");
    tcase_add_test(tc, types_roundtrip);
    tcase_add_test(tc, types_range_checks);
    suite_add_tcase(s, tc);

    tc = tcase_create("cpumask");
    tcase_add_test(tc, cpumask_bounds);
    tcase_add_test(tc, cpumask_ops_vs_reference);
    tcase_add_test(tc, cpumask_size_mismatch);
    tcase_add_test(tc, cpumask_parse_format);
    tcase_add_test(tc, cpumask_format_parse_roundtrip);
    tcase_add_test(tc, cpumask_create_fault_injection);
    suite_add_tcase(s, tc);

    tc = tcase_create("flush");
    tcase_add_test(tc, flush_kind_max);
    tcase_add_test(tc, flush_ranges_merge);
    tcase_add_test(tc, flush_ranges_cover_property);
    tcase_add_test(tc, flush_deferred_free);
    tcase_add_test(tc, flush_whole);
    suite_add_tcase(s, tc);

    tc = tcase_create("lock");
    tcase_add_test(tc, lockorder_rules);
    tcase_add_test(tc, lockorder_depth);
    tcase_add_test(tc, lock_wrappers);
    suite_add_tcase(s, tc);

    tc = tcase_create("host");
    tcase_add_test(tc, host_check_required_ops);
    tcase_add_test(tc, hosted_config_validation);
    tcase_add_test(tc, hosted_pages);
    tcase_add_test(tc, hosted_arena_exhaustion);
    tcase_add_test(tc, hosted_objects_locks_log);
    tcase_add_test(tc, testhost_detects_misuse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return vc_check_run(core_suite());
}
