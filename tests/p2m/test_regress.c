/* SPDX-License-Identifier: MIT */
/*
 * Regression tests: minimal reproductions of bugs found by the p2m fuzzer
 * and the concurrency stress test (tests/fuzz/fuzz_p2m.c,
 * tests/p2m/test_concurrency.c).
 *
 * ---- vc_p2m_lookup_unlocked() returns torn entries on side-array formats ----
 *
 * On formats whose entries have no room for the p2m access and
 * suppress-#VE (ARM stage 2: sw_fields == VC_FMT_SW_TYPE), the engine keeps
 * them in a per-table side array. read_ent() loads the raw entry, calls the
 * format's decode(), and only then reads side[i] (a plain load); write_ent()
 * stores the new side[i] *before* the new raw entry. A lookup without the
 * lock that loaded the old raw entry can therefore combine it with the new
 * side byte: the old frame and hardware permissions with the new (or, on
 * unmap or split, cleared) access and sve. That is neither the mapping
 * before nor the one after the change, contrary to the documentation of
 * vc_p2m_lookup_unlocked(), and it can report encoded permissions above the
 * effective rights (hw_perms rwx with access r or n).
 *
 * The stress test hit it within a few hundred thousand lookups on
 * arm-4k-40 ("mapped to B+i, access n, sve 0, hw_perms rwx" while the writer
 * split the superpage). The tests below make the interleaving
 * deterministic: the format is the built-in ARM format with its decode()
 * wrapped, and the wrapper, which runs exactly between the reader's load of
 * the raw entry and its load of the side byte, performs the writer's
 * change (on the same thread: the unlocked lookup holds no lock). This
 * stands for a writer thread that ran in that window.
 */
#include <stdlib.h>
#include <string.h>

#include "p2m_test.h"

void p2m_add_regress_tests(Suite *s);

/* ---- a hooked ARM format ---------------------------------------------------------- */

enum hook_action { HOOK_NONE, HOOK_SET_ACCESS_R, HOOK_UNMAP };

static const struct vc_p2m_format *arm_fmt;
static struct vc_p2m_format hooked_fmt;
static struct {
    struct vc_p2m *p;
    enum hook_action action; /* armed when not HOOK_NONE */
    uint64_t gfn;
    int rc;                  /* the writer's result */
    unsigned int fired;
    /* The writer's flush: completed (tables released) only after the
     * interrupted lookup has returned, as vc_p2m_lookup_unlocked()
     * requires. */
    struct vc_flush pending;
} hook;

static int hooked_decode(const struct vc_p2m_format_cfg *cfg, unsigned int level, uint64_t raw,
                         struct vc_pte *pte)
{
    int rc = arm_fmt->decode(cfg, level, raw, pte);
    enum hook_action a = hook.action;

    if (a != HOOK_NONE && rc == 0 && level == 0 && pte->kind == VC_PTE_LEAF) {
        /* The reader holds the raw leaf; a writer changes the entry now. */
        hook.action = HOOK_NONE; /* the writer's own decodes pass through */
        hook.fired++;
        if (a == HOOK_SET_ACCESS_R)
            hook.rc = vc_p2m_set_access(hook.p, vc_gfn(hook.gfn), 1, VC_ACCESS_R,
                                        &hook.pending);
        else /* empties the tables above the page: they are freed with the flush */
            hook.rc = vc_p2m_unmap(hook.p, vc_gfn(hook.gfn), 1, &hook.pending);
    }
    return rc;
}

static void regress_bbm(void *arg, vc_gfn_t gfn, unsigned int order)
{
    (void)arg;
    (void)gfn;
    (void)order;
}

struct rx {
    struct testhost *th;
    struct vc_p2m *p;
};

static void rx_init(struct rx *x)
{
    struct vc_p2m_config cfg = {0};
    struct vc_flush f;
    int rc;

    arm_fmt = vc_p2m_format_get(VC_P2M_FMT_ARM_S2);
    ck_assert_ptr_nonnull(arm_fmt);
    hooked_fmt = *arm_fmt; /* same encoding, side array, break-before-make */
    hooked_fmt.decode = hooked_decode;
    memset(&hook, 0, sizeof(hook));
    vc_flush_init(&hook.pending);

    x->th = testhost_new();
    cfg.custom_format = &hooked_fmt;
    cfg.fmt.ia_bits = 40;
    cfg.fmt.oa_bits = 40;
    cfg.bbm_flush = regress_bbm;
    rc = vc_p2m_create(testhost_host(x->th), &cfg, &x->p);
    ck_assert_msg(rc == 0, "create: %s", vc_errname(rc));
    ck_assert_uint_eq(vc_p2m_format(x->p)->sw_fields, VC_FMT_SW_TYPE); /* side array in use */
    hook.p = x->p;

    /* One 4K page: gfn 0x10 -> mfn 0x1234, ram_rw, rwx (sve set by the map). */
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_map(x->p, vc_gfn(0x10), vc_mfn(0x1234), 1, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), 0);
    vc_flush_complete(&f);
}

static void rx_fini(struct rx *x)
{
    const char *msg = NULL;

    ck_assert_msg(vc_p2m_audit(x->p, &msg) == 0, "audit: %s", msg ? msg : "?");
    vc_p2m_destroy(x->p);
    ck_assert_uint_eq(testhost_live(x->th), 0);
    ck_assert_uint_eq(testhost_errors(x->th), 0);
    testhost_free(x->th);
}

/*
 * A concurrent set_access(rwx -> r) of a mapped 4K page.
 * Expected: before (access rwx, hw_perms rwx) or after (access r, hw_perms r).
 * Actual: access r with hw_perms rwx (the old entry's permissions), i.e.
 * hardware permissions above the effective rights.
 */
START_TEST(p2m_regress_unlocked_side_torn_access)
{
    struct rx x;
    struct vc_p2m_entry e;
    bool before, after;

    rx_init(&x);
    hook.gfn = 0x10;
    hook.action = HOOK_SET_ACCESS_R;
    ck_assert_int_eq(vc_p2m_lookup_unlocked(x.p, vc_gfn(0x10), &e), 0);
    vc_flush_complete(&hook.pending); /* the lookup has returned */
    ck_assert_uint_eq(hook.fired, 1);
    ck_assert_int_eq(hook.rc, 0);

    ck_assert_int_eq(e.type, VC_P2M_RAM_RW);
    ck_assert_uint_eq(vc_mfn_x(e.mfn), 0x1234);
    before = e.access == VC_ACCESS_RWX && e.hw_perms == VC_PERM_RWX;
    after = e.access == VC_ACCESS_R && e.hw_perms == VC_PERM_R;
    ck_assert_msg(before || after,
                  "lookup_unlocked during set_access(rwx -> r): access %s, rights %#x, "
                  "hw_perms %#x: neither the entry before nor after",
                  vc_p2m_access_name(e.access), e.rights, e.hw_perms);
    ck_assert_msg((e.hw_perms & ~e.rights) == 0, "hw_perms %#x above rights %#x", e.hw_perms,
                  e.rights);
    rx_fini(&x);
}
END_TEST

/*
 * A concurrent unmap of a mapped 4K page.
 * Expected: before (mfn 0x1234, ram_rw, access rwx, sve set) or after
 * (unmapped). Actual: mapped to 0x1234 with access n and sve clear (the
 * side byte already cleared, the raw entry still the old leaf), hw_perms rwx.
 */
START_TEST(p2m_regress_unlocked_side_torn_unmap)
{
    struct rx x;
    struct vc_p2m_entry e;
    bool before, after;

    rx_init(&x);
    hook.gfn = 0x10;
    hook.action = HOOK_UNMAP;
    ck_assert_int_eq(vc_p2m_lookup_unlocked(x.p, vc_gfn(0x10), &e), 0);
    vc_flush_complete(&hook.pending); /* the lookup has returned */
    ck_assert_uint_eq(hook.fired, 1);
    ck_assert_int_eq(hook.rc, 0);

    before = e.type == VC_P2M_RAM_RW && vc_mfn_x(e.mfn) == 0x1234 &&
             e.access == VC_ACCESS_RWX && e.sve && e.hw_perms == VC_PERM_RWX;
    after = e.type == VC_P2M_INVALID && !vc_mfn_valid(e.mfn);
    ck_assert_msg(before || after,
                  "lookup_unlocked during unmap: type %s mfn %#llx access %s sve %d "
                  "hw_perms %#x: neither the entry before nor after",
                  vc_p2m_type_name(e.type), (unsigned long long)vc_mfn_x(e.mfn),
                  vc_p2m_access_name(e.access), e.sve, e.hw_perms);
    rx_fini(&x);
}
END_TEST

/* ---- found by review (helper session, 2026-11-21) ----------------------------------- */

/* A flush completed after vc_p2m_destroy() released tables through the
 * freed p2m (use-after-free): nodes now carry their own copy of the host. */
START_TEST(p2m_regress_flush_after_destroy)
{
    struct fx fx;
    struct vc_flush f;
    uint64_t g;

    fx_init(&fx, &fmt_cases[2], 0); /* ept4 */
    g = 1;
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(0x1000), vc_mfn(7), 3 * g, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), 0);
    vc_flush_complete(&f);
    ck_assert_int_eq(vc_p2m_unmap(fx.p, vc_gfn(0x1000), 3 * g, &f), 0);
    ck_assert_uint_gt(f.nr_deferred, 0);
    vc_p2m_destroy(fx.p);
    fx.p = NULL;
    vc_flush_complete(&f); /* the guest is gone; its invalidation completes */
    ck_assert_uint_eq(testhost_live(fx.th), 0);
    ck_assert_uint_eq(testhost_errors(fx.th), 0);
    testhost_free(fx.th);
}
END_TEST

/* On a break-before-make format, unmapping a block and mapping something of
 * another size or frame there under the same pending flush skipped the
 * break: a valid -> empty transition now invalidates at once. */
START_TEST(p2m_regress_bbm_unmap_then_remap)
{
    struct fx fx;
    struct vc_flush f;
    unsigned long before;

    fx_init(&fx, &fmt_cases[1], 0); /* ref-side-bbm */
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(512), vc_mfn(1024), 512, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), 0);
    vc_flush_complete(&f);
    before = fx.bbm_calls;
    /* B: 2M block away, 4K page with another frame in, one flush. */
    ck_assert_int_eq(vc_p2m_unmap(fx.p, vc_gfn(512), 512, &f), 0);
    ck_assert_uint_gt(fx.bbm_calls, before);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(512), vc_mfn(77), 1, VC_P2M_RAM_RW, VC_ACCESS_RWX,
                                &f), 0);
    vc_flush_complete(&f);
    /* C: 512 small pages away (table freed), one 2M block in, one flush. */
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(2048), vc_mfn(3), 512, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), 0);
    vc_flush_complete(&f);
    before = fx.bbm_calls;
    ck_assert_int_eq(vc_p2m_unmap(fx.p, vc_gfn(2048), 512, &f), 0);
    ck_assert_uint_gt(fx.bbm_calls, before);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(2048), vc_mfn(4096), 512, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), 0);
    vc_flush_complete(&f);
    fx_audit(&fx);
    fx_fini(&fx);
}
END_TEST

/* With a host direct map, the locked lookup followed a corrupted table
 * pointer into another guest's tables: it now checks every pointer against
 * the engine's bookkeeping (and audit checks the direct map). */
START_TEST(p2m_regress_lookup_checks_pointers)
{
    struct fx a, b;
    struct vc_flush f;
    struct vc_p2m_entry e;
    uint64_t *ra, *rb, saved;
    const char *msg;

    fx_init(&a, &fmt_cases[2], 0); /* ept4, direct map on */
    fx_init(&b, &fmt_cases[2], 0);
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_map(a.p, vc_gfn(0), vc_mfn(0xaaaa), 1, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), 0);
    /* (B allocates other tables first: the two test hosts' arenas are laid
     * out alike, so B's tables must sit at other physical addresses.) */
    ck_assert_int_eq(vc_p2m_map(b.p, vc_gfn(UINT64_C(1) << 30), vc_mfn(1), 1, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), 0);
    ck_assert_int_eq(vc_p2m_map(b.p, vc_gfn(0), vc_mfn(0xbbbb), 1, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), 0);
    vc_flush_complete(&f);
    ra = testhost_host(a.th)->ops->phys_to_virt(testhost_host(a.th)->cookie,
                                                 vc_paddr(vc_p2m_hw_pointer(a.p) & ~0xfffull));
    rb = testhost_host(b.th)->ops->phys_to_virt(testhost_host(b.th)->cookie,
                                                 vc_paddr(vc_p2m_hw_pointer(b.p) & ~0xfffull));
    saved = ra[0];
    ck_assert_uint_ne(ra[0], rb[0]);
    ra[0] = rb[0]; /* A's root now points into B's tables */
    ck_assert_int_eq(vc_p2m_lookup(a.p, vc_gfn(0), &e), VC_ECORRUPT);
    ck_assert_int_eq(vc_p2m_audit(a.p, &msg), VC_ECORRUPT);
    ra[0] = saved;
    ck_assert_int_eq(vc_p2m_lookup(a.p, vc_gfn(0), &e), 0);
    ck_assert_uint_eq(vc_mfn_x(e.mfn), 0xaaaa);
    fx_fini(&a);
    fx_fini(&b);
}
END_TEST

void p2m_add_regress_tests(Suite *s)
{
    TCase *tc = tcase_create("regress");

    tcase_add_test(tc, p2m_regress_flush_after_destroy);
    tcase_add_test(tc, p2m_regress_bbm_unmap_then_remap);
    tcase_add_test(tc, p2m_regress_lookup_checks_pointers);

    tcase_add_test(tc, p2m_regress_unlocked_side_torn_access);
    tcase_add_test(tc, p2m_regress_unlocked_side_torn_unmap);
    suite_add_tcase(s, tc);
}
