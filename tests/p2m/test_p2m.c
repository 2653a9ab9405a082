/* SPDX-License-Identifier: MIT */
/*
 * Suite "p2m": the engine, driven through its public API over every format
 * (the three hardware formats in several configurations and two reference
 * test formats: one that stores every software field in the entry, one that
 * needs the engine's side array and break-before-make).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "internal/core.h"
#include "p2m_test.h"

/* ---- reference test formats ------------------------------------------------------
 * A deliberately simple encoding: [1:0] 01 table / 10 leaf, [4:2] perms,
 * [7:5] memory type, [51:12] address, [55:52] type, [59:56] access,
 * [60] suppress-#VE. Three levels of 512 entries, 39-bit input. */

#define REF_ADDR_MASK (((UINT64_C(1) << 52) - 1) & ~UINT64_C(0xfff))

static int ref_configure(struct vc_p2m_format_cfg *c)
{
    if (c->ia_bits == 0)
        c->ia_bits = 39;
    if (c->oa_bits == 0)
        c->oa_bits = 40;
    if (c->ia_bits < 21 || c->ia_bits > 39 || c->oa_bits < 21 || c->oa_bits > 52 ||
        c->levels || (c->granule_shift && c->granule_shift != 12) || c->vmid ||
        (c->flags & ~(unsigned int)VC_FMT_F_NO_1G))
        return VC_EINVAL;
    c->granule_shift = 12;
    c->bits_per_level = 9;
    c->root_level = c->ia_bits > 30 ? 2 : 1;
    c->root_entries = 1u << (c->ia_bits - (12 + 9 * c->root_level));
    c->root_size = 4096;
    return 0;
}

static bool ref_leaf_ok(const struct vc_p2m_format_cfg *c, unsigned int level)
{
    return level <= 1 || (level == 2 && !(c->flags & VC_FMT_F_NO_1G));
}

static uint64_t ref_encode(const struct vc_p2m_format_cfg *c, unsigned int level,
                           const struct vc_pte *pte)
{
    (void)c;
    (void)level;
    if (pte->kind == VC_PTE_TABLE)
        return (pte->addr & REF_ADDR_MASK) | 1;
    return 2 | (uint64_t)(pte->perms & 7) << 2 | (uint64_t)(pte->mt & 7) << 5 |
           (pte->addr & REF_ADDR_MASK) | (uint64_t)(pte->type & 15) << 52 |
           (uint64_t)(pte->access & 15) << 56 | (uint64_t)(pte->sve ? 1 : 0) << 60;
}

static int ref_decode(const struct vc_p2m_format_cfg *c, unsigned int level, uint64_t raw,
                      struct vc_pte *pte)
{
    memset(pte, 0, sizeof(*pte));
    if (raw == 0)
        return 0;
    pte->addr = raw & REF_ADDR_MASK;
    if (pte->addr >> c->oa_bits)
        return VC_ECORRUPT;
    switch (raw & 3) {
    case 1:
        if (level == 0 || (raw & ~(REF_ADDR_MASK | 1)))
            return VC_ECORRUPT;
        pte->kind = VC_PTE_TABLE;
        return 0;
    case 2:
        pte->kind = VC_PTE_LEAF;
        pte->perms = (raw >> 2) & 7;
        pte->mt = (enum vc_memtype)((raw >> 5) & 7);
        pte->type = (raw >> 52) & 15;
        pte->access = (raw >> 56) & 15;
        pte->sve = (raw >> 60) & 1;
        if (pte->type == 0 || pte->mt >= VC_MT_NR || (raw >> 61) || !ref_leaf_ok(c, level))
            return VC_ECORRUPT;
        return 0;
    }
    return VC_ECORRUPT;
}

/* The side variant keeps only the type: access and sve read back as 0. */
static uint64_t side_encode(const struct vc_p2m_format_cfg *c, unsigned int level,
                            const struct vc_pte *pte)
{
    struct vc_pte t = *pte;
    t.access = 0;
    t.sve = false;
    return ref_encode(c, level, &t);
}

static uint64_t ref_hw_pointer(const struct vc_p2m_format_cfg *c, uint64_t root_pa)
{
    (void)c;
    return root_pa | 1;
}

static const struct vc_p2m_format ref_format = {
    .name = "ref",
    .sw_fields = VC_FMT_SW_TYPE | VC_FMT_SW_ACCESS | VC_FMT_SW_SVE,
    .needs_bbm = false,
    .configure = ref_configure,
    .leaf_ok = ref_leaf_ok,
    .encode = ref_encode,
    .decode = ref_decode,
    .hw_pointer = ref_hw_pointer,
};

static const struct vc_p2m_format ref_side_format = {
    .name = "ref-side-bbm",
    .sw_fields = VC_FMT_SW_TYPE,
    .needs_bbm = true,
    .configure = ref_configure,
    .leaf_ok = ref_leaf_ok,
    .encode = side_encode,
    .decode = ref_decode,
    .hw_pointer = ref_hw_pointer,
};

const struct fmt_case fmt_cases[] = {
    {"ref", 0, &ref_format, {0}},
    {"ref-side-bbm", 0, &ref_side_format, {0}},
    {"ept4", VC_P2M_FMT_EPT, NULL, {.ia_bits = 48, .oa_bits = 46}},
    {"ept5", VC_P2M_FMT_EPT, NULL, {.ia_bits = 57, .oa_bits = 52, .levels = 5}},
    {"arm-4k-40", VC_P2M_FMT_ARM_S2, NULL, {.ia_bits = 40, .oa_bits = 40, .vmid = 5}},
    {"arm-4k-48", VC_P2M_FMT_ARM_S2, NULL, {.ia_bits = 48, .oa_bits = 48}},
    {"arm-16k-40", VC_P2M_FMT_ARM_S2, NULL, {.ia_bits = 40, .oa_bits = 40, .granule_shift = 14}},
    {"arm-64k-42", VC_P2M_FMT_ARM_S2, NULL, {.ia_bits = 42, .oa_bits = 44, .granule_shift = 16}},
    {"x86-64", VC_P2M_FMT_X86_64, NULL, {.ia_bits = 48, .oa_bits = 46}},
};
const unsigned int nr_fmt_cases = sizeof(fmt_cases) / sizeof(fmt_cases[0]);

/* ---- fixture ------------------------------------------------------------------------- */

static void count_bbm(void *arg, vc_gfn_t gfn, unsigned int order)
{
    struct fx *fx = arg;
    (void)gfn;
    (void)order;
    fx->bbm_calls++;
}

void fx_init(struct fx *fx, const struct fmt_case *fc, unsigned int flags)
{
    fx_init_dm(fx, fc, flags, true);
}

void fx_init_dm(struct fx *fx, const struct fmt_case *fc, unsigned int flags, bool direct_map)
{
    struct vc_p2m_config cfg = {0};
    int rc;

    memset(fx, 0, sizeof(*fx));
    fx->fc = fc;
    fx->th = testhost_new();
    testhost_set_direct_map(fx->th, direct_map);
    cfg.format = fc->id;
    cfg.custom_format = fc->custom;
    cfg.fmt = fc->fmt;
    cfg.flags = flags;
    cfg.bbm_flush = count_bbm;
    cfg.bbm_arg = fx;
    rc = vc_p2m_create(testhost_host(fx->th), &cfg, &fx->p);
    ck_assert_msg(rc == 0, "%s: create: %s", fc->name, vc_strerror(rc));
    fx->order0 = vc_p2m_format_cfg(fx->p)->granule_shift - 12;
}

void fx_audit(struct fx *fx)
{
    const char *msg = NULL;
    int rc = vc_p2m_audit(fx->p, &msg);
    ck_assert_msg(rc == 0, "%s: audit: %s", fx->fc->name, msg ? msg : "?");
}

void fx_fini(struct fx *fx)
{
    vc_p2m_destroy(fx->p);
    ck_assert_msg(testhost_live(fx->th) == 0, "%s: %zu allocations leaked", fx->fc->name,
                  testhost_live(fx->th));
    ck_assert_msg(testhost_errors(fx->th) == 0, "%s: host misuse: %s", fx->fc->name,
                  testhost_last_error(fx->th));
    testhost_free(fx->th);
}

/* Map/unmap with a flush that is completed at once (tables released). */
static int do_map(struct fx *fx, uint64_t gfn, uint64_t mfn, uint64_t nr,
                  enum vc_p2m_type t, enum vc_p2m_access a, struct vc_flush *out)
{
    struct vc_flush f;
    int rc;

    vc_flush_init(&f);
    rc = vc_p2m_map(fx->p, vc_gfn(gfn), vc_mfn(mfn), nr, t, a, &f);
    if (out) {
        vc_flush_merge(out, &f);
    } else {
        vc_flush_complete(&f);
    }
    return rc;
}

static int do_unmap(struct fx *fx, uint64_t gfn, uint64_t nr, struct vc_flush *out)
{
    struct vc_flush f;
    int rc;

    vc_flush_init(&f);
    rc = vc_p2m_unmap(fx->p, vc_gfn(gfn), nr, &f);
    if (out)
        vc_flush_merge(out, &f);
    else
        vc_flush_complete(&f);
    return rc;
}

static struct vc_p2m_entry look(struct fx *fx, uint64_t gfn)
{
    struct vc_p2m_entry e;
    int rc = vc_p2m_lookup(fx->p, vc_gfn(gfn), &e);
    ck_assert_msg(rc == 0, "%s: lookup %#llx: %s", fx->fc->name, (unsigned long long)gfn,
                  vc_strerror(rc));
    return e;
}

/* Orders of the leaves the format can hold, ascending. */
static unsigned int leaf_orders(struct fx *fx, unsigned int *orders)
{
    const struct vc_p2m_format *f = vc_p2m_format(fx->p);
    const struct vc_p2m_format_cfg *c = vc_p2m_format_cfg(fx->p);
    unsigned int n = 0;

    for (unsigned int l = 0; l <= c->root_level; l++)
        if (f->leaf_ok(c, l))
            orders[n++] = fx->order0 + l * c->bits_per_level;
    return n;
}

/* ---- basic behaviour, per format ------------------------------------------------------ */

START_TEST(p2m_create_rejects)
{
    struct testhost *th = testhost_new();
    const struct vc_host *h = testhost_host(th);
    struct vc_p2m_config cfg = {.format = VC_P2M_FMT_EPT};
    struct vc_p2m *p;

    ck_assert_int_eq(vc_p2m_create(NULL, &cfg, &p), VC_EINVAL);
    ck_assert_int_eq(vc_p2m_create(h, NULL, &p), VC_EINVAL);
    ck_assert_int_eq(vc_p2m_create(h, &cfg, NULL), VC_EINVAL);
    cfg.format = (enum vc_p2m_format_id)99;
    ck_assert_int_eq(vc_p2m_create(h, &cfg, &p), VC_EINVAL);
    cfg.format = VC_P2M_FMT_EPT;
    cfg.flags = 0x80;
    ck_assert_int_eq(vc_p2m_create(h, &cfg, &p), VC_EINVAL);
    cfg.flags = 0;
    /* ARM needs a break-before-make callback. */
    cfg.format = VC_P2M_FMT_ARM_S2;
    ck_assert_int_eq(vc_p2m_create(h, &cfg, &p), VC_EINVAL);
    /* A format without a type field cannot be used. */
    {
        struct vc_p2m_format nf = ref_format;
        nf.sw_fields = VC_FMT_SW_ACCESS;
        cfg.custom_format = &nf;
        ck_assert_int_eq(vc_p2m_create(h, &cfg, &p), VC_ENOTSUP);
        nf = ref_format;
        nf.decode = NULL;
        ck_assert_int_eq(vc_p2m_create(h, &cfg, &p), VC_EINVAL);
    }
    /* The format's own validation. */
    cfg.custom_format = &ref_format;
    cfg.fmt.ia_bits = 60;
    ck_assert_int_eq(vc_p2m_create(h, &cfg, &p), VC_EINVAL);
    ck_assert_uint_eq(testhost_live(th), 0);
    testhost_free(th);
}
END_TEST

START_TEST(p2m_map_lookup_superpages)
{
    const struct fmt_case *fc = &fmt_cases[_i];
    unsigned int orders[6], n;
    struct fx fx;

    fx_init(&fx, fc, 0);
    n = leaf_orders(&fx, orders);
    ck_assert_uint_ge(n, 2);
    /* For each leaf size: map exactly one aligned block of that size and
     * check lookup reports that order at both ends. */
    for (unsigned int k = 0; k < n; k++) {
        uint64_t nr = UINT64_C(1) << orders[k];
        uint64_t gfn = nr * (k + 1) * 2, mfn = nr * (k + 3);
        struct vc_p2m_entry e;

        ck_assert_int_eq(do_map(&fx, gfn, mfn, nr, VC_P2M_RAM_RW, VC_ACCESS_RWX, NULL), 0);
        e = look(&fx, gfn);
        ck_assert_uint_eq(e.order, orders[k]);
        ck_assert_uint_eq(vc_mfn_x(e.mfn), mfn);
        ck_assert_int_eq(e.type, VC_P2M_RAM_RW);
        ck_assert_uint_eq(e.rights, VC_PERM_RWX);
        e = look(&fx, gfn + nr - 1);
        ck_assert_uint_eq(vc_mfn_x(e.mfn), mfn + nr - 1);
        e = look(&fx, gfn + nr);
        ck_assert_int_eq(e.type, VC_P2M_INVALID);
        ck_assert(!vc_mfn_valid(e.mfn));
        fx_audit(&fx);
    }
    /* A misaligned mfn forces smaller leaves. */
    {
        uint64_t big = UINT64_C(1) << orders[1];
        uint64_t gfn = big * 64;
        ck_assert_int_eq(do_map(&fx, gfn, (UINT64_C(1) << fx.order0) * 3, big,
                                VC_P2M_RAM_RO, VC_ACCESS_RWX, NULL), 0);
        ck_assert_uint_eq(look(&fx, gfn).order, orders[0]);
        ck_assert_uint_eq(look(&fx, gfn).rights, VC_PERM_R | VC_PERM_X);
    }
    fx_audit(&fx);
    fx_fini(&fx);
}
END_TEST

START_TEST(p2m_split_and_merge)
{
    const struct fmt_case *fc = &fmt_cases[_i];
    unsigned int orders[6];
    struct fx fx;
    struct vc_flush f;
    uint64_t big, small, gfn, mfn;
    struct vc_p2m_stats st;

    fx_init(&fx, fc, 0);
    leaf_orders(&fx, orders);
    big = UINT64_C(1) << orders[1];
    small = UINT64_C(1) << orders[0];
    gfn = big * 8;
    mfn = big * 100;
    ck_assert_int_eq(do_map(&fx, gfn, mfn, big, VC_P2M_RAM_RW, VC_ACCESS_RWX, NULL), 0);
    ck_assert_uint_eq(look(&fx, gfn).order, orders[1]);

    /* Restrict one small page: the superpage splits (STRUCTURAL flush). */
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_set_access(fx.p, vc_gfn(gfn + small), small, VC_ACCESS_R, &f), 0);
    ck_assert_int_eq(f.kind, VC_FLUSH_STRUCTURAL);
    ck_assert(vc_flush_covers(&f, gfn));          /* the whole superpage */
    ck_assert(vc_flush_covers(&f, gfn + big - 1));
    ck_assert_uint_eq(f.nr_deferred, 0);          /* nothing freed by a split */
    vc_flush_complete(&f);
    ck_assert_uint_eq(look(&fx, gfn).order, orders[0]);
    ck_assert_int_eq(look(&fx, gfn + small).access, VC_ACCESS_R);
    ck_assert_uint_eq(look(&fx, gfn + small).rights, VC_PERM_R);
    ck_assert_int_eq(look(&fx, gfn).access, VC_ACCESS_RWX);
    ck_assert_uint_eq(vc_mfn_x(look(&fx, gfn + big - 1).mfn), mfn + big - 1);
    fx_audit(&fx);

    /* Restore it: the table is uniform again and merges back; the table is
     * freed only through the flush. */
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_set_access(fx.p, vc_gfn(gfn + small), small, VC_ACCESS_RWX, &f), 0);
    ck_assert_int_eq(f.kind, VC_FLUSH_STRUCTURAL);
    ck_assert_uint_eq(f.nr_deferred, 1);
    ck_assert_uint_eq(look(&fx, gfn).order, orders[1]);
    {
        size_t pages = testhost_live_pages(fx.th);
        vc_flush_complete(&f);
        ck_assert_uint_eq(testhost_live_pages(fx.th), pages - 1);
    }
    fx_audit(&fx);
    vc_p2m_stats(fx.p, &st);
    ck_assert_uint_eq(st.mapped_frames, big);

    /* With merging off the table stays. */
    fx_fini(&fx);
    fx_init(&fx, fc, VC_P2M_F_NO_MERGE);
    ck_assert_int_eq(do_map(&fx, gfn, mfn, big, VC_P2M_RAM_RW, VC_ACCESS_RWX, NULL), 0);
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_set_access(fx.p, vc_gfn(gfn), small, VC_ACCESS_N, &f), 0);
    ck_assert_int_eq(vc_p2m_set_access(fx.p, vc_gfn(gfn), small, VC_ACCESS_RWX, &f), 0);
    vc_flush_complete(&f);
    ck_assert_uint_eq(look(&fx, gfn).order, orders[0]);
    fx_audit(&fx);
    fx_fini(&fx);
}
END_TEST

START_TEST(p2m_flush_kinds_and_deferred_free)
{
    const struct fmt_case *fc = &fmt_cases[_i];
    unsigned int orders[6];
    struct fx fx;
    struct vc_flush f;
    uint64_t small;
    size_t pages_before;

    fx_init(&fx, fc, 0);
    leaf_orders(&fx, orders);
    small = UINT64_C(1) << orders[0];
    pages_before = testhost_live_pages(fx.th);

    /* Filling empty entries: ADDED over exactly the range. */
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(small * 5), vc_mfn(small * 7), small * 3,
                                VC_P2M_RAM_RW, VC_ACCESS_RWX, &f), 0);
    ck_assert_int_eq(f.kind, VC_FLUSH_ADDED);
    ck_assert(!vc_flush_required(&f));
    ck_assert(vc_flush_covers(&f, small * 5));
    ck_assert(vc_flush_covers(&f, small * 8 - 1));
    ck_assert(!vc_flush_covers(&f, small * 8));
    ck_assert(!vc_flush_covers(&f, small * 5 - 1));
    vc_flush_complete(&f);

    /* Mapping the same again changes nothing: no flush at all. */
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(small * 5), vc_mfn(small * 7), small * 3,
                                VC_P2M_RAM_RW, VC_ACCESS_RWX, &f), 0);
    ck_assert_int_eq(f.kind, VC_FLUSH_NONE);

    /* Changing a present entry: MODIFIED. */
    ck_assert_int_eq(vc_p2m_change_type(fx.p, vc_gfn(small * 6), small, VC_P2M_RAM_RW,
                                        VC_P2M_RAM_LOGDIRTY, &f), 0);
    ck_assert_int_eq(f.kind, VC_FLUSH_MODIFIED);
    ck_assert(vc_flush_covers(&f, small * 6));
    ck_assert(!vc_flush_covers(&f, small * 5));
    ck_assert_uint_eq(look(&fx, small * 6).rights, VC_PERM_R | VC_PERM_X);
    vc_flush_complete(&f);

    /* Unmapping everything frees every table but the root, deferred. */
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_unmap(fx.p, vc_gfn(0), small * 16, &f), 0);
    ck_assert_int_eq(f.kind, VC_FLUSH_STRUCTURAL);
    ck_assert_uint_gt(f.nr_deferred, 0);
    ck_assert_uint_gt(testhost_live_pages(fx.th), pages_before); /* not yet released */
    vc_flush_complete(&f);
    ck_assert_uint_eq(testhost_live_pages(fx.th), pages_before);
    ck_assert_int_eq(look(&fx, small * 6).type, VC_P2M_INVALID);
    fx_audit(&fx);
    fx_fini(&fx);
}
END_TEST

START_TEST(p2m_bad_arguments)
{
    const struct fmt_case *fc = &fmt_cases[_i];
    struct fx fx;
    struct vc_flush f;
    const struct vc_p2m_format_cfg *c;
    uint64_t ia_frames, oa_frames, g;
    struct vc_p2m_entry e;

    fx_init(&fx, fc, 0);
    c = vc_p2m_format_cfg(fx.p);
    ia_frames = UINT64_C(1) << (c->ia_bits - 12);
    oa_frames = UINT64_C(1) << (c->oa_bits - 12);
    g = UINT64_C(1) << fx.order0;
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(0), vc_mfn(0), g, VC_P2M_INVALID, VC_ACCESS_RWX, &f),
                     VC_EINVAL);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(0), vc_mfn(0), g, VC_P2M_NR_TYPES, VC_ACCESS_RWX, &f),
                     VC_EINVAL);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(0), vc_mfn(0), g, VC_P2M_RAM_RW, VC_ACCESS_NR, &f),
                     VC_EINVAL);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(0), vc_mfn(0), 0, VC_P2M_RAM_RW, VC_ACCESS_RWX, &f),
                     VC_EINVAL);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(0), vc_mfn(0), g, VC_P2M_RAM_RW, VC_ACCESS_RWX, NULL),
                     VC_EINVAL);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(ia_frames), vc_mfn(0), g, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), VC_ERANGE);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(ia_frames - g), vc_mfn(0), 2 * g, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), VC_ERANGE);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(0), vc_mfn(oa_frames - g), 2 * g, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), VC_ERANGE);
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(UINT64_MAX - g + 1), vc_mfn(0), 2 * g,
                                VC_P2M_RAM_RW, VC_ACCESS_RWX, &f), VC_EOVERFLOW);
    ck_assert_int_eq(vc_p2m_set_entry(fx.p, vc_gfn(g), vc_mfn(0), fx.order0 + 1, VC_P2M_RAM_RW,
                                      VC_ACCESS_RWX, &f), VC_EALIGN);
    ck_assert_int_eq(vc_p2m_set_entry(fx.p, vc_gfn(0), vc_mfn(g), fx.order0 + 1, VC_P2M_RAM_RW,
                                      VC_ACCESS_RWX, &f), VC_EALIGN);
    ck_assert_int_eq(vc_p2m_set_entry(fx.p, vc_gfn(0), vc_mfn(0), 64, VC_P2M_RAM_RW,
                                      VC_ACCESS_RWX, &f), VC_EINVAL);
    if (fx.order0 > 0) {
        /* 16K/64K granules: frames must be whole granules. */
        ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(1), vc_mfn(0), g, VC_P2M_RAM_RW,
                                    VC_ACCESS_RWX, &f), VC_EALIGN);
        ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(0), vc_mfn(1), g, VC_P2M_RAM_RW,
                                    VC_ACCESS_RWX, &f), VC_EALIGN);
        ck_assert_int_eq(vc_p2m_unmap(fx.p, vc_gfn(0), 1, &f), VC_EALIGN);
    }
    ck_assert_int_eq(vc_p2m_change_type(fx.p, vc_gfn(0), g, VC_P2M_INVALID, VC_P2M_RAM_RW, &f),
                     VC_EINVAL);
    ck_assert_int_eq(vc_p2m_change_type(fx.p, vc_gfn(0), g, VC_P2M_RAM_RW, (enum vc_p2m_type)77,
                                        &f), VC_EINVAL);
    ck_assert_int_eq(vc_p2m_set_access(fx.p, vc_gfn(0), g, (enum vc_p2m_access)10, &f), VC_EINVAL);
    ck_assert_int_eq(vc_p2m_unmap(fx.p, vc_gfn(ia_frames), g, &f), VC_ERANGE);
    ck_assert_int_eq(vc_p2m_lookup(fx.p, vc_gfn(ia_frames), &e), VC_ERANGE);
    ck_assert_int_eq(vc_p2m_lookup(fx.p, vc_gfn(0), NULL), VC_EINVAL);
    ck_assert_int_eq(vc_p2m_lookup_unlocked(fx.p, vc_gfn(ia_frames), &e), VC_ERANGE);
    /* Nothing above touched the tables or the flush. */
    ck_assert_int_eq(f.kind, VC_FLUSH_NONE);
    ck_assert_uint_eq(testhost_live_pages(fx.th), 1);
    fx_audit(&fx);
    fx_fini(&fx);
}
END_TEST

/* ---- fault injection: every allocation site of create and of every operation ------- */

static void bbm_none(void *arg, vc_gfn_t gfn, unsigned int order)
{
    (void)arg, (void)gfn, (void)order;
}

START_TEST(p2m_create_fault_injection)
{
    const struct fmt_case *fc = &fmt_cases[_i];
    struct testhost *th = testhost_new();
    struct vc_p2m_config cfg = {0};
    struct vc_p2m *p = NULL;
    unsigned long n, sites = 0;

    cfg.format = fc->id;
    cfg.custom_format = fc->custom;
    cfg.fmt = fc->fmt;
    cfg.bbm_flush = bbm_none;
    for (n = 1;; n++) {
        bool injected;
        int rc;

        testhost_fail_nth(th, n);
        rc = vc_p2m_create(testhost_host(th), &cfg, &p);
        injected = testhost_injected(th);
        testhost_fail_nth(th, 0);
        if (!injected) {
            ck_assert_int_eq(rc, 0);
            break;
        }
        sites++;
        ck_assert_int_eq(rc, VC_ENOMEM);
        ck_assert_msg(testhost_live(th) == 0, "%s: site %lu leaked", fc->name, n);
    }
    /* p2m, lock, node, root table, child array (+ side array on ARM) */
    ck_assert_uint_ge(sites, 5);
    vc_p2m_destroy(p);
    ck_assert_uint_eq(testhost_live(th), 0);
    ck_assert_uint_eq(testhost_errors(th), 0);
    testhost_free(th);
}
END_TEST

struct snap {
    uint64_t *raw;
    size_t n, cap;
};

static int snap_cb(const struct vc_p2m_visit *v, void *arg)
{
    struct snap *s = arg;

    if (s->n + 3 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->raw = realloc(s->raw, s->cap * sizeof(*s->raw));
        ck_assert_ptr_nonnull(s->raw);
    }
    s->raw[s->n++] = vc_gfn_x(v->gfn);
    s->raw[s->n++] = v->level;
    s->raw[s->n++] = v->raw;
    return 0;
}

/* Every entry of every table, raw, in walk order. */
static void snapshot(struct fx *fx, struct snap *s)
{
    const struct vc_p2m_format_cfg *c = vc_p2m_format_cfg(fx->p);
    struct vc_p2m_walker w = {snap_cb, s,
                              VC_VISIT_LEAF | VC_VISIT_TABLE_PRE | VC_VISIT_EMPTY};
    s->n = 0;
    ck_assert_int_eq(vc_p2m_walk(fx->p, vc_gfn(0), UINT64_C(1) << (c->ia_bits - 12), &w), 0);
}

typedef int (*op_fn)(struct fx *fx, struct vc_flush *f);

static uint64_t big_of(struct fx *fx)
{
    unsigned int orders[6];
    leaf_orders(fx, orders);
    return UINT64_C(1) << orders[1];
}

static int op_map_fresh(struct fx *fx, struct vc_flush *f)
{
    uint64_t g = UINT64_C(1) << fx->order0;
    /* Far from everything: needs a table at every level below the root. */
    return vc_p2m_map(fx->p, vc_gfn(big_of(fx) * 1000 + g), vc_mfn(g * 3), g, VC_P2M_RAM_RW,
                      VC_ACCESS_RWX, f);
}

static int op_split_unmap(struct fx *fx, struct vc_flush *f)
{
    uint64_t g = UINT64_C(1) << fx->order0;
    /* The middle of a top-level superpage: splits at several levels. */
    return vc_p2m_unmap(fx->p, vc_gfn(g * 5), g, f);
}

static int op_access_scatter(struct fx *fx, struct vc_flush *f)
{
    uint64_t big = big_of(fx);
    return vc_p2m_set_access(fx->p, vc_gfn(big - (UINT64_C(1) << fx->order0)),
                             2 * (UINT64_C(1) << fx->order0), VC_ACCESS_RX2RW, f);
}

static int op_type_range(struct fx *fx, struct vc_flush *f)
{
    return vc_p2m_change_type(fx->p, vc_gfn(3 << fx->order0), big_of(fx), VC_P2M_RAM_RW,
                              VC_P2M_RAM_LOGDIRTY, f);
}

START_TEST(p2m_fault_injection)
{
    const struct fmt_case *fc = &fmt_cases[_i];
    static const op_fn ops[] = {op_map_fresh, op_split_unmap, op_access_scatter, op_type_range};
    struct snap before = {0}, after = {0};

    for (unsigned int k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        struct fx fx;
        unsigned int orders[6], nl;
        unsigned long n, sites = 0;

        fx_init(&fx, fc, 0);
        nl = leaf_orders(&fx, orders);
        /* State: the largest superpage at 0, and a few small pages. */
        ck_assert_int_eq(do_map(&fx, 0, UINT64_C(1) << orders[nl - 1],
                                UINT64_C(1) << orders[nl - 1], VC_P2M_RAM_RW, VC_ACCESS_RWX,
                                NULL), 0);
        for (n = 1;; n++) {
            struct vc_flush f;
            size_t live = testhost_live(fx.th);
            int rc;

            snapshot(&fx, &before);
            vc_flush_init(&f);
            testhost_fail_nth(fx.th, n);
            bool injected;

            rc = ops[k](&fx, &f);
            injected = testhost_injected(fx.th);
            testhost_fail_nth(fx.th, 0);
            if (!injected) {
                ck_assert_int_eq(rc, 0);
                vc_flush_complete(&f);
                break;
            }
            sites++;
            ck_assert_int_eq(rc, VC_ENOMEM);
            ck_assert_int_eq(f.kind, VC_FLUSH_NONE);
            ck_assert_ptr_null(f.deferred);
            ck_assert_uint_eq(testhost_live(fx.th), live);
            snapshot(&fx, &after);
            ck_assert_uint_eq(after.n, before.n);
            ck_assert_msg(memcmp(after.raw, before.raw, before.n * 8) == 0,
                          "%s op %u: tables changed by a failed operation", fc->name, k);
            fx_audit(&fx);
        }
        if (k != 2 && k != 3)
            ck_assert_msg(sites >= 2, "%s op %u: only %lu allocation sites", fc->name, k, sites);
        fx_audit(&fx);
        fx_fini(&fx);
    }
    free(before.raw);
    free(after.raw);
}
END_TEST

/* ---- observer, walker, BBM ----------------------------------------------------------- */

struct obs_log {
    unsigned int calls;
    struct vc_p2m_change last;
    uint64_t frames;
};

static void obs_cb(void *arg, const struct vc_p2m_change *c)
{
    struct obs_log *l = arg;
    l->calls++;
    l->last = *c;
    l->frames += c->nr;
}

START_TEST(p2m_observer)
{
    const struct fmt_case *fc = &fmt_cases[_i];
    struct fx fx;
    struct obs_log log = {0};
    uint64_t g;

    fx_init(&fx, fc, 0);
    g = UINT64_C(1) << fx.order0;
    ck_assert_int_eq(vc_p2m_set_observer(fx.p, obs_cb, &log), 0);
    ck_assert_int_eq(vc_p2m_set_observer(fx.p, obs_cb, &fx), VC_EBUSY);
    ck_assert_int_eq(do_map(&fx, 4 * g, 9 * g, 2 * g, VC_P2M_GRANT_RO, VC_ACCESS_RWX, NULL), 0);
    ck_assert_uint_eq(log.frames, 2 * g);
    ck_assert(!log.last.was_mapped);
    ck_assert_int_eq(log.last.type, VC_P2M_GRANT_RO);
    /* Reported per leaf or per run of leaves: frames gfn + i map mfn + i. */
    ck_assert_uint_eq(vc_mfn_x(log.last.mfn) + (4 * g + 2 * g - vc_gfn_x(log.last.gfn) -
                                                log.last.nr),
                      9 * g + 2 * g - log.last.nr);
    /* No change, no call. */
    log.calls = 0;
    ck_assert_int_eq(do_map(&fx, 4 * g, 9 * g, 2 * g, VC_P2M_GRANT_RO, VC_ACCESS_RWX, NULL), 0);
    ck_assert_uint_eq(log.calls, 0);
    ck_assert_int_eq(do_unmap(&fx, 5 * g, g, NULL), 0);
    ck_assert_uint_eq(log.calls, 1);
    ck_assert(log.last.was_mapped);
    ck_assert_int_eq(log.last.type, VC_P2M_INVALID);
    ck_assert_uint_eq(vc_gfn_x(log.last.gfn), 5 * g);
    ck_assert_int_eq(vc_p2m_set_observer(fx.p, NULL, NULL), 0);
    ck_assert_int_eq(do_unmap(&fx, 4 * g, g, NULL), 0);
    ck_assert_uint_eq(log.calls, 1);
    fx_fini(&fx);
}
END_TEST

struct walk_log {
    unsigned int leaves, pre, post, empty, depth, max_depth;
    uint64_t last_gfn;
};

static int walk_cb(const struct vc_p2m_visit *v, void *arg)
{
    struct walk_log *l = arg;

    switch (v->kind) {
    case VC_VISIT_LEAF:
        ck_assert_uint_ge(vc_gfn_x(v->gfn), l->last_gfn); /* address order */
        l->last_gfn = vc_gfn_x(v->gfn);
        l->leaves++;
        ck_assert_int_ne(v->entry.type, VC_P2M_INVALID);
        break;
    case VC_VISIT_TABLE_PRE:
        l->pre++;
        if (++l->depth > l->max_depth)
            l->max_depth = l->depth;
        break;
    case VC_VISIT_TABLE_POST:
        l->post++;
        l->depth--;
        break;
    case VC_VISIT_EMPTY:
        l->empty++;
        break;
    }
    return l->leaves == 1000 ? 42 : 0;
}

START_TEST(p2m_walker)
{
    const struct fmt_case *fc = &fmt_cases[_i];
    struct fx fx;
    struct walk_log log = {0};
    struct vc_p2m_walker w = {walk_cb, &log, VC_VISIT_LEAF | VC_VISIT_TABLE_PRE |
                                                  VC_VISIT_TABLE_POST};
    const struct vc_p2m_format_cfg *c;
    uint64_t g;

    fx_init(&fx, fc, 0);
    c = vc_p2m_format_cfg(fx.p);
    g = UINT64_C(1) << fx.order0;
    /* 10 pages with a misaligned mfn: 10 leaves at level 0. */
    ck_assert_int_eq(do_map(&fx, 16 * g, g, 10 * g, VC_P2M_RAM_RW, VC_ACCESS_RWX, NULL), 0);
    ck_assert_int_eq(vc_p2m_walk(fx.p, vc_gfn(0), UINT64_C(1) << (c->ia_bits - 12), &w), 0);
    ck_assert_uint_eq(log.leaves, 10);
    ck_assert_uint_eq(log.pre, log.post);
    ck_assert_uint_eq(log.max_depth, c->root_level); /* a table per level below the root */
    ck_assert_uint_eq(log.depth, 0);
    /* A sub-range sees only its leaves. */
    memset(&log, 0, sizeof(log));
    ck_assert_int_eq(vc_p2m_walk(fx.p, vc_gfn(18 * g), 3 * g, &w), 0);
    ck_assert_uint_eq(log.leaves, 3);
    ck_assert_uint_eq(log.last_gfn, 20 * g);
    /* The visitor's non-zero return stops the walk. */
    ck_assert_int_eq(do_map(&fx, 4096 * g, g, 2000 * g, VC_P2M_RAM_RW, VC_ACCESS_RWX, NULL), 0);
    memset(&log, 0, sizeof(log));
    ck_assert_int_eq(vc_p2m_walk(fx.p, vc_gfn(0), UINT64_C(1) << (c->ia_bits - 12), &w), 42);
    w.flags = 0x100;
    ck_assert_int_eq(vc_p2m_walk(fx.p, vc_gfn(0), g, &w), VC_EINVAL);
    w.flags = VC_VISIT_LEAF;
    w.cb = NULL;
    ck_assert_int_eq(vc_p2m_walk(fx.p, vc_gfn(0), g, &w), VC_EINVAL);
    fx_fini(&fx);
}
END_TEST

START_TEST(p2m_break_before_make)
{
    struct fx fx;
    unsigned int orders[6];
    uint64_t big, small;
    struct vc_flush f;
    struct vc_p2m_entry e;

    fx_init(&fx, &fmt_cases[1], 0); /* ref-side-bbm */
    leaf_orders(&fx, orders);
    big = UINT64_C(1) << orders[1];
    small = UINT64_C(1) << orders[0];
    ck_assert_int_eq(do_map(&fx, big, big, big, VC_P2M_RAM_RW, VC_ACCESS_RWX, NULL), 0);
    ck_assert_uint_eq(fx.bbm_calls, 0); /* empty -> valid needs no break */
    /* Permission-only change of a valid entry: no break. */
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_set_access(fx.p, vc_gfn(big), big, VC_ACCESS_RX, &f), 0);
    ck_assert_uint_eq(fx.bbm_calls, 0);
    /* Split of a valid block: break first. */
    ck_assert_int_eq(vc_p2m_set_access(fx.p, vc_gfn(big), small, VC_ACCESS_R, &f), 0);
    ck_assert_uint_eq(fx.bbm_calls, 1);
    /* Output change of a valid page: break first. */
    ck_assert_int_eq(vc_p2m_map(fx.p, vc_gfn(big), vc_mfn(5 * big), small, VC_P2M_RAM_RW,
                                VC_ACCESS_RWX, &f), 0);
    ck_assert_uint_eq(fx.bbm_calls, 2);
    vc_flush_complete(&f);
    /* The side array keeps access and sve although the entry cannot. */
    ck_assert_int_eq(vc_p2m_lookup(fx.p, vc_gfn(big + small), &e), 0);
    ck_assert_int_eq(e.access, VC_ACCESS_RX);
    ck_assert(e.sve);
    vc_flush_init(&f);
    ck_assert_int_eq(vc_p2m_set_suppress_ve(fx.p, vc_gfn(big + small), small, false, &f), 0);
    vc_flush_complete(&f);
    ck_assert_int_eq(vc_p2m_lookup(fx.p, vc_gfn(big + small), &e), 0);
    ck_assert(!e.sve);
    fx_audit(&fx);
    fx_fini(&fx);
}
END_TEST

START_TEST(p2m_rights_table)
{
    /* Effective rights = type rights AND access rights. */
    ck_assert_uint_eq(vc_p2m_rights(VC_P2M_RAM_RW, VC_ACCESS_RX2RW), VC_PERM_R | VC_PERM_X);
    ck_assert_uint_eq(vc_p2m_rights(VC_P2M_RAM_RW, VC_ACCESS_N2RWX), 0);
    ck_assert_uint_eq(vc_p2m_rights(VC_P2M_RAM_RO, VC_ACCESS_RWX), VC_PERM_R | VC_PERM_X);
    ck_assert_uint_eq(vc_p2m_rights(VC_P2M_MMIO_DIRECT, VC_ACCESS_RWX), VC_PERM_R | VC_PERM_W);
    ck_assert_uint_eq(vc_p2m_rights(VC_P2M_GRANT_RO, VC_ACCESS_WX), 0);
    ck_assert_uint_eq(vc_p2m_rights(VC_P2M_MMIO_DM, VC_ACCESS_RWX), 0);
    ck_assert_uint_eq(vc_p2m_rights((enum vc_p2m_type)99, VC_ACCESS_RWX), 0);
    ck_assert_uint_eq(vc_p2m_access_rights((enum vc_p2m_access)99), 0);
    ck_assert_str_eq(vc_p2m_type_name(VC_P2M_RAM_LOGDIRTY), "ram_logdirty");
    ck_assert_str_eq(vc_p2m_type_name((enum vc_p2m_type)99), "?");
    ck_assert_str_eq(vc_p2m_access_name(VC_ACCESS_RX2RW), "rx2rw");
    ck_assert_str_eq(vc_p2m_access_name((enum vc_p2m_access)10), "?");
}
END_TEST

/* ---- property test against a per-frame model ------------------------------------------- */

#define WIN_SHIFT 20 /* model window: 2^20 frames = 4 GiB */
#define WIN (UINT64_C(1) << WIN_SHIFT)

struct model {
    uint64_t *mfn;  /* VC_INVALID_FRAME when unmapped */
    uint16_t *attr; /* type | access << 4 | sve << 8 */
};

static uint64_t rnd_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic across libc implementations */
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * UINT64_C(2685821657736338717);
}

struct cmp_ctx {
    const struct model *m;
    const char *name;
    uint64_t lo, hi, seen; /* frames of leaves inside [lo, hi) */
};

static int cmp_cb(const struct vc_p2m_visit *v, void *arg)
{
    struct cmp_ctx *c = arg;
    uint64_t g0 = vc_gfn_x(v->gfn), n = UINT64_C(1) << v->order;
    uint64_t base = v->pte.addr >> 12;

    for (uint64_t k = 0; k < n && g0 + k < WIN; k++) {
        uint64_t g = g0 + k;
        uint16_t attr = (uint16_t)(v->entry.type | v->entry.access << 4 | (v->entry.sve ? 256 : 0));
        if (c->m->mfn[g] != base + k || c->m->attr[g] != attr) {
            ck_abort_msg("%s: gfn %#llx: p2m mfn %#llx attr %#x, model mfn %#llx attr %#x",
                         c->name, (unsigned long long)g, (unsigned long long)(base + k), attr,
                         (unsigned long long)c->m->mfn[g], c->m->attr[g]);
        }
        c->seen += g >= c->lo && g < c->hi;
    }
    return 0;
}

/* Compare [lo, hi) of the p2m against the model: every leaf frame matches,
 * and the number of mapped frames equals the model's. */
static void compare(struct fx *fx, const struct model *m, uint64_t lo, uint64_t hi)
{
    struct cmp_ctx c = {m, fx->fc->name, lo, hi, 0};
    struct vc_p2m_walker w = {cmp_cb, &c, VC_VISIT_LEAF};
    uint64_t mapped = 0;

    ck_assert_int_eq(vc_p2m_walk(fx->p, vc_gfn(lo), hi - lo, &w), 0);
    for (uint64_t g = lo; g < hi; g++)
        mapped += m->mfn[g] != VC_INVALID_FRAME;
    ck_assert_msg(c.seen == mapped, "%s: p2m maps %llu frames in window, model %llu",
                  fx->fc->name, (unsigned long long)c.seen, (unsigned long long)mapped);
}

/* A few random lookups (locked and lock-free) in [gfn, gfn + nr) agree
 * with the model. */
static void check_lookups(struct fx *fx, const struct model *m, uint64_t gfn, uint64_t nr)
{
    for (int k = 0; k < 4; k++) {
        uint64_t g = gfn + rnd() % nr;
        struct vc_p2m_entry e, u;

        memset(&e, 0, sizeof(e)); /* compared bytewise below: clear the padding */
        memset(&u, 0, sizeof(u));
        ck_assert_int_eq(vc_p2m_lookup(fx->p, vc_gfn(g), &e), 0);
        ck_assert_int_eq(vc_p2m_lookup_unlocked(fx->p, vc_gfn(g), &u), 0);
        ck_assert_mem_eq(&e, &u, sizeof(e));
        if (m->mfn[g] == VC_INVALID_FRAME) {
            ck_assert_int_eq(e.type, VC_P2M_INVALID);
        } else {
            ck_assert_uint_eq(vc_mfn_x(e.mfn), m->mfn[g]);
            ck_assert_uint_eq(e.type | e.access << 4 | (e.sve ? 256u : 0), m->attr[g]);
            ck_assert_uint_eq(e.rights, vc_p2m_rights(e.type, e.access));
            ck_assert_uint_eq(e.hw_perms & ~e.rights, 0);
        }
    }
}

static void run_property(const struct fmt_case *fc, unsigned long steps, uint64_t seed,
                         bool direct_map)
{
    struct fx fx;
    struct model m;
    unsigned int orders[6], nl;
    uint64_t g;

    fx_init_dm(&fx, fc, 0, direct_map);
    nl = leaf_orders(&fx, orders);
    g = UINT64_C(1) << fx.order0;
    m.mfn = malloc(WIN * sizeof(*m.mfn));
    m.attr = calloc(WIN, sizeof(*m.attr));
    memset(m.mfn, 0xff, WIN * sizeof(*m.mfn));
    rnd_state = seed;

    for (unsigned long step = 0; step < steps; step++) {
        unsigned int r = (unsigned int)(rnd() % 100), sz = (unsigned int)(rnd() % 1000);
        uint64_t nr, gfn, mfn = 0;
        struct vc_flush f;
        int rc, kind;

        /* Sizes: mostly small, some superpage-sized, rarely the largest
         * (1 in 400: a 1 GiB operation costs as much as ~500 small ones). */
        if (sz < 500)
            nr = 1 + rnd() % 64;
        else if (sz < 850)
            nr = (1 + rnd() % 3) << orders[1];
        else if (sz < 997 || nl < 3)
            nr = 1 + rnd() % 3000;
        else
            nr = UINT64_C(1) << orders[2];
        nr = (nr + g - 1) & ~(g - 1);
        if (nr > WIN / 4)
            nr = WIN / 4;
        gfn = rnd() % (WIN - nr);
        if (sz >= 500 && sz < 850)
            gfn &= ~((UINT64_C(1) << orders[1]) - 1);
        else if (sz >= 997)
            gfn &= ~((UINT64_C(1) << orders[nl > 2 ? 2 : 1]) - 1);
        gfn &= ~(g - 1);
        if (gfn + nr > WIN)
            gfn = WIN - nr;

        vc_flush_init(&f);
        kind = r < 40 ? 0 : r < 60 ? 1 : r < 75 ? 2 : r < 92 ? 3 : 4;
        if (kind == 0) {
            /* Map: half the time at a superpage-friendly offset. */
            unsigned int t = 1 + (unsigned int)(rnd() % (VC_P2M_NR_TYPES - 1));
            unsigned int a = (unsigned int)(rnd() % VC_ACCESS_NR);
            /* (mfns stay below 2^27 frames: every case has oa_bits >= 40) */
            mfn = (rnd() & 1) ? gfn + (UINT64_C(1) << 26) : (rnd() % (UINT64_C(1) << 26)) & ~(g - 1);
            rc = vc_p2m_map(fx.p, vc_gfn(gfn), vc_mfn(mfn), nr, (enum vc_p2m_type)t,
                            (enum vc_p2m_access)a, &f);
            ck_assert_int_eq(rc, 0);
            for (uint64_t k = 0; k < nr; k++) { /* a map resets sve to set */
                m.mfn[gfn + k] = mfn + k;
                m.attr[gfn + k] = (uint16_t)(t | a << 4 | 256);
            }
        } else if (kind == 1) {
            ck_assert_int_eq(vc_p2m_unmap(fx.p, vc_gfn(gfn), nr, &f), 0);
            for (uint64_t k = 0; k < nr; k++) {
                m.mfn[gfn + k] = VC_INVALID_FRAME;
                m.attr[gfn + k] = 0;
            }
        } else if (kind == 2) {
            unsigned int from = 1 + (unsigned int)(rnd() % 3);
            unsigned int to = 1 + (unsigned int)(rnd() % (VC_P2M_NR_TYPES - 1));
            ck_assert_int_eq(vc_p2m_change_type(fx.p, vc_gfn(gfn), nr, (enum vc_p2m_type)from,
                                                (enum vc_p2m_type)to, &f), 0);
            for (uint64_t k = 0; k < nr; k++)
                if (m.mfn[gfn + k] != VC_INVALID_FRAME && (m.attr[gfn + k] & 15) == from)
                    m.attr[gfn + k] = (uint16_t)((m.attr[gfn + k] & ~15u) | to);
        } else if (kind == 3) {
            unsigned int a = (unsigned int)(rnd() % VC_ACCESS_NR);
            ck_assert_int_eq(vc_p2m_set_access(fx.p, vc_gfn(gfn), nr, (enum vc_p2m_access)a, &f),
                             0);
            for (uint64_t k = 0; k < nr; k++)
                if (m.mfn[gfn + k] != VC_INVALID_FRAME)
                    m.attr[gfn + k] = (uint16_t)((m.attr[gfn + k] & ~0xf0u) | a << 4);
        } else {
            bool sve = rnd() & 1;
            ck_assert_int_eq(vc_p2m_set_suppress_ve(fx.p, vc_gfn(gfn), nr, sve, &f), 0);
            for (uint64_t k = 0; k < nr; k++)
                if (m.mfn[gfn + k] != VC_INVALID_FRAME)
                    m.attr[gfn + k] = (uint16_t)((m.attr[gfn + k] & ~256u) | (sve ? 256 : 0));
        }
        vc_flush_complete(&f);

        /* Every step: the touched range when small, else both edges
         * (where splits happen) with a margin. Periodically: the audit and
         * the whole window. */
        if (nr <= 4096) {
            compare(&fx, &m, gfn > 512 ? gfn - 512 : 0, VC_MIN(gfn + nr + 512, WIN));
        } else {
            compare(&fx, &m, gfn > 512 ? gfn - 512 : 0, gfn + 512);
            compare(&fx, &m, gfn + nr - 512, VC_MIN(gfn + nr + 512, WIN));
        }
        check_lookups(&fx, &m, gfn, nr);
        if (step % 256 == 0)
            fx_audit(&fx);
        if (step % 16384 == 0)
            compare(&fx, &m, 0, WIN);
    }
    compare(&fx, &m, 0, WIN);
    fx_audit(&fx);
    free(m.mfn);
    free(m.attr);
    fx_fini(&fx);
}

static unsigned long property_steps(void)
{
    const char *s = getenv("VC_P2M_PROPERTY_STEPS");
    return s ? strtoul(s, NULL, 0) : 100000;
}

START_TEST(p2m_property)
{
    run_property(&fmt_cases[_i], property_steps(), UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)_i,
                 true);
}
END_TEST

/* The lookup path through the engine's bookkeeping (hosts without a direct
 * map), on the formats that would otherwise take the direct path. */
START_TEST(p2m_property_no_direct_map)
{
    run_property(&fmt_cases[_i], property_steps() / 10, UINT64_C(0x1234567) + (uint64_t)_i,
                 false);
}
END_TEST

static Suite *p2m_suite(void)
{
    Suite *s = suite_create("p2m");
    TCase *tc;
    int n = (int)nr_fmt_cases;

    tc = tcase_create("api");
    tcase_add_test(tc, p2m_create_rejects);
    tcase_add_test(tc, p2m_rights_table);
    tcase_add_test(tc, p2m_break_before_make);
    suite_add_tcase(s, tc);

    tc = tcase_create("engine");
    tcase_add_loop_test(tc, p2m_map_lookup_superpages, 0, n);
    tcase_add_loop_test(tc, p2m_split_and_merge, 0, n);
    tcase_add_loop_test(tc, p2m_flush_kinds_and_deferred_free, 0, n);
    tcase_add_loop_test(tc, p2m_bad_arguments, 0, n);
    tcase_add_loop_test(tc, p2m_observer, 0, n);
    tcase_add_loop_test(tc, p2m_walker, 0, n);
    suite_add_tcase(s, tc);

    tc = tcase_create("fault-injection");
    tcase_add_loop_test(tc, p2m_create_fault_injection, 0, n);
    tcase_add_loop_test(tc, p2m_fault_injection, 0, n);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("property");
    tcase_add_loop_test(tc, p2m_property, 0, n);
    tcase_add_loop_test(tc, p2m_property_no_direct_map, 0, n);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);

    p2m_add_format_tests(s);
    p2m_add_regress_tests(s);
    p2m_add_concurrency_tests(s);
    return s;
}

int main(void)
{
    return vc_check_run(p2m_suite());
}
