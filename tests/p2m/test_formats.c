/* SPDX-License-Identifier: MIT */
/*
 * Suite "p2m", format part: the hardware page-table formats (Intel EPT,
 * ARM stage 2, x86-64 / AMD NPT) tested one entry at a time against values
 * written by hand from the architecture manuals, plus randomized
 * round-trip and mutation properties.
 *
 * Spec references used for the expected values:
 *   Intel SDM vol 3C 29.3.2 (EPT entry formats), 29.3.3.1 (EPT
 *   misconfigurations), 29.3.7.2 (EPT memory types), 24.6.11 (EPTP);
 *   ARM ARM D8.3 (descriptor formats), D8.2 (lookup levels, concatenation),
 *   D8.6 (stage 2 MemAttr, FWB=0), VTCR_EL2 and VTTBR_EL2 descriptions;
 *   AMD APM vol 2 5.3/5.4 (long-mode entries), 7.8 (default PAT), 15.25
 *   (nested paging, nCR3).
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <virtcore/virtcore.h>

#include "internal/core.h"

void p2m_add_format_tests(Suite *s);

#define B(n) (UINT64_C(1) << (n))
#define EPT  VC_P2M_FMT_EPT
#define ARM  VC_P2M_FMT_ARM_S2
#define X86  VC_P2M_FMT_X86_64
#define R    VC_PERM_R
#define W    VC_PERM_W
#define X    VC_PERM_X

/* ---- helpers ------------------------------------------------------------ */

/* A format instance: the configure() inputs. */
struct fcfg {
    enum vc_p2m_format_id id;
    unsigned int ia, oa, levels, gs;
    uint16_t vmid;
    unsigned int flags;
};

#define LEAF(a, p, m, t, ac, sv)                                                         \
    {                                                                                    \
        .kind = VC_PTE_LEAF, .addr = (a), .perms = (p), .mt = (m), .type = (t),          \
        .access = (ac), .sve = (sv)                                                      \
    }
#define TABLE(a)                                                                         \
    {                                                                                    \
        .kind = VC_PTE_TABLE, .addr = (a)                                                \
    }

static const struct vc_p2m_format *fmt_of(enum vc_p2m_format_id id)
{
    const struct vc_p2m_format *f = vc_p2m_format_get(id);
    ck_assert_ptr_nonnull(f);
    return f;
}

static struct vc_p2m_format_cfg cfg_in(const struct fcfg *c)
{
    struct vc_p2m_format_cfg cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.ia_bits = c->ia;
    cfg.oa_bits = c->oa;
    cfg.levels = c->levels;
    cfg.granule_shift = c->gs;
    cfg.vmid = c->vmid;
    cfg.flags = c->flags;
    return cfg;
}

static struct vc_p2m_format_cfg setup(const struct fcfg *c)
{
    struct vc_p2m_format_cfg cfg = cfg_in(c);
    int rc = fmt_of(c->id)->configure(&cfg);

    ck_assert_msg(rc == 0, "configure(id %d ia %u oa %u gs %u) = %d", (int)c->id, c->ia,
                  c->oa, c->gs, rc);
    return cfg;
}

/* What the format keeps of a leaf: the test's own model of the rules
 * (EPT: W needs R, X needs R without execute-only; ARM: everything, WP as
 * Device, only the type in the entry; x86: nothing without R, WC/WP as UC). */
static struct vc_pte model(enum vc_p2m_format_id id, const struct vc_p2m_format_cfg *cfg,
                           const struct vc_pte *in)
{
    struct vc_pte p = *in;

    if (p.kind != VC_PTE_LEAF) {
        struct vc_pte t;
        memset(&t, 0, sizeof(t));
        t.kind = p.kind;
        t.addr = p.kind == VC_PTE_TABLE ? p.addr : 0;
        return t;
    }
    switch (id) {
    case EPT:
        if (!(p.perms & R)) {
            p.perms &= ~(unsigned int)W;
            if (cfg->flags & VC_FMT_F_NO_EXEC_ONLY)
                p.perms &= ~(unsigned int)X;
        }
        break;
    case ARM:
        if (p.mt == VC_MT_WP)
            p.mt = VC_MT_UC;
        p.access = 0;
        p.sve = false;
        break;
    case X86:
        if (!(p.perms & R))
            p.perms = 0;
        if (p.mt == VC_MT_WC || p.mt == VC_MT_WP)
            p.mt = VC_MT_UC;
        break;
    }
    return p;
}

static void pte_eq(const struct vc_pte *got, const struct vc_pte *want, const char *what)
{
    ck_assert_msg(got->kind == want->kind, "%s: kind %d want %d", what, got->kind,
                  want->kind);
    ck_assert_msg(got->addr == want->addr, "%s: addr %#" PRIx64 " want %#" PRIx64, what,
                  got->addr, want->addr);
    if (want->kind != VC_PTE_LEAF)
        return;
    ck_assert_msg(got->perms == want->perms, "%s: perms %u want %u", what, got->perms,
                  want->perms);
    ck_assert_msg(got->mt == want->mt, "%s: mt %d want %d", what, got->mt, want->mt);
    ck_assert_msg(got->type == want->type, "%s: type %u want %u", what, got->type,
                  want->type);
    ck_assert_msg(got->access == want->access, "%s: access %u want %u", what, got->access,
                  want->access);
    ck_assert_msg(got->sve == want->sve, "%s: sve %d want %d", what, got->sve, want->sve);
}

/* ---- registry --------------------------------------------------------------- */

START_TEST(fmt_registry)
{
    static const struct {
        enum vc_p2m_format_id id;
        const char *name;
        unsigned int sw;
        bool bbm;
    } want[] = {
        {EPT, "ept", VC_FMT_SW_TYPE | VC_FMT_SW_ACCESS | VC_FMT_SW_SVE, false},
        {ARM, "arm-s2", VC_FMT_SW_TYPE, true},
        {X86, "x86-64", VC_FMT_SW_TYPE | VC_FMT_SW_ACCESS | VC_FMT_SW_SVE, false},
    };

    for (unsigned int i = 0; i < VC_ARRAY_SIZE(want); i++) {
        const struct vc_p2m_format *f = vc_p2m_format_get(want[i].id);
        ck_assert_ptr_nonnull(f);
        ck_assert_str_eq(f->name, want[i].name);
        ck_assert_int_eq(f->id, want[i].id);
        ck_assert_uint_eq(f->sw_fields, want[i].sw);
        ck_assert_int_eq(f->needs_bbm, want[i].bbm);
        ck_assert_ptr_nonnull(f->configure);
        ck_assert_ptr_nonnull(f->leaf_ok);
        ck_assert_ptr_nonnull(f->encode);
        ck_assert_ptr_nonnull(f->decode);
        ck_assert_ptr_nonnull(f->hw_pointer);
    }
    ck_assert_ptr_null(vc_p2m_format_get((enum vc_p2m_format_id)0));
    ck_assert_ptr_null(vc_p2m_format_get((enum vc_p2m_format_id)4));
    ck_assert_ptr_null(vc_p2m_format_get((enum vc_p2m_format_id)99));
    ck_assert_ptr_null(vc_p2m_format_get((enum vc_p2m_format_id) - 1));
}
END_TEST

/* ---- configure() ------------------------------------------------------------ */

struct cfg_case {
    struct fcfg in;
    int rc;
    /* outputs (checked when rc == 0) */
    unsigned int ia, oa, bpl, root_level, root_entries;
    size_t root_size;
    uint64_t vtcr;
    const char *what;
};

/* VTCR_EL2 fixed part: IRGN0 = 0b01 (bits 9:8), ORGN0 = 0b01 (11:10),
 * SH0 = 0b11 (13:12), RES1 bit 31. */
#define VTCR_FIXED UINT64_C(0x80003500)

/* clang-format off */
static const struct cfg_case cfg_cases[] = {
    /* EPT: SDM 29.3.2 -- 4-level walks translate 48 bits, 5-level 57;
     * every table is 4 KiB with 512 entries. */
    {{EPT, 0, 0, 0, 0, 0, 0}, 0, 48, 52, 9, 3, 512, 4096, 0, "ept defaults"},
    {{EPT, 0, 0, 5, 0, 0, 0}, 0, 57, 52, 9, 4, 512, 4096, 0, "ept 5-level defaults"},
    {{EPT, 48, 0, 5, 12, 0, 0}, 0, 48, 52, 9, 4, 1, 4096, 0, "ept 5-level ia 48"},
    {{EPT, 52, 46, 5, 0, 0, 0}, 0, 52, 46, 9, 4, 16, 4096, 0, "ept 5-level ia 52"},
    {{EPT, 40, 40, 4, 0, 0, VC_FMT_F_ALL}, 0, 40, 40, 9, 3, 2, 4096, 0, "ept ia 40"},
    {{EPT, 39, 32, 0, 0, 0, 0}, 0, 39, 32, 9, 3, 1, 4096, 0, "ept ia 39"},
    {{EPT, 32, 0, 0, 0, 0, 0}, 0, 32, 52, 9, 3, 1, 4096, 0, "ept ia 32"},
    {{EPT, 0, 0, 3, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "ept 3 levels"},
    {{EPT, 0, 0, 6, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "ept 6 levels"},
    {{EPT, 0, 0, 0, 14, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "ept 16K granule"},
    {{EPT, 0, 0, 0, 0, 1, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "ept vmid"},
    {{EPT, 31, 0, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "ept ia 31"},
    {{EPT, 49, 0, 4, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "ept 4-level ia 49"},
    {{EPT, 58, 0, 5, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "ept 5-level ia 58"},
    {{EPT, 0, 31, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "ept oa 31"},
    {{EPT, 0, 53, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "ept oa 53"},
    {{EPT, 0, 0, 0, 0, 0, 8}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "ept unknown flag"},

    /* ARM stage 2: levels = ceil((ia - 4 - granule_shift) / bpl), at least 2
     * (KVM); the root concatenates up to 16 tables (D8.2). VTCR_EL2: T0SZ
     * 5:0 = 64 - ia, SL0 7:6 (4K: 0 = L2, 1 = L1, 2 = L0; 16K/64K: 0 = L3,
     * 1 = L2, 2 = L1), TG0 15:14 (4K 0, 64K 1, 16K 2), PS 18:16. */
    {{ARM, 0, 0, 0, 0, 0, 0}, 0, 40, 40, 9, 2, 1024, 8192,
     VTCR_FIXED | 24 | 1u << 6 | 2u << 16, "arm 4K ia 40: L1 start, 2 tables"},
    {{ARM, 48, 48, 0, 12, 0, 0}, 0, 48, 48, 9, 3, 512, 4096,
     VTCR_FIXED | 16 | 2u << 6 | 5u << 16, "arm 4K ia 48: L0 start"},
    {{ARM, 44, 44, 0, 12, 0, 0}, 0, 44, 44, 9, 3, 32, 4096,
     VTCR_FIXED | 20 | 2u << 6 | 4u << 16, "arm 4K ia 44: L0 start"},
    {{ARM, 43, 44, 0, 12, 0, 0}, 0, 43, 44, 9, 2, 8192, 65536,
     VTCR_FIXED | 21 | 1u << 6 | 4u << 16, "arm 4K ia 43: L1 start, 16 tables"},
    {{ARM, 36, 36, 0, 12, 0, 0}, 0, 36, 36, 9, 2, 64, 4096,
     VTCR_FIXED | 28 | 1u << 6 | 1u << 16, "arm 4K ia 36: L1 start"},
    {{ARM, 35, 36, 0, 12, 0, 0}, 0, 35, 36, 9, 2, 32, 4096,
     VTCR_FIXED | 29 | 1u << 6 | 1u << 16, "arm 4K ia 35: L1 start"},
    {{ARM, 34, 36, 0, 12, 0, 0}, 0, 34, 36, 9, 1, 8192, 65536,
     VTCR_FIXED | 30 | 0u << 6 | 1u << 16, "arm 4K ia 34: L2 start, 16 tables"},
    {{ARM, 32, 32, 0, 12, 0, 0}, 0, 32, 32, 9, 1, 2048, 16384,
     VTCR_FIXED | 32 | 0u << 6 | 0u << 16, "arm 4K ia 32: L2 start, 4 tables"},
    {{ARM, 40, 40, 0, 12, 300, 0}, 0, 40, 40, 9, 2, 1024, 8192,
     VTCR_FIXED | 24 | 1u << 6 | 2u << 16 | B(19), "arm vmid 300: VS"},
    {{ARM, 40, 42, 0, 12, 255, VC_FMT_F_NO_1G}, 0, 40, 42, 9, 2, 1024, 8192,
     VTCR_FIXED | 24 | 1u << 6 | 3u << 16, "arm vmid 255: no VS, PS 42"},
    {{ARM, 40, 40, 0, 14, 0, 0}, 0, 40, 40, 11, 1, 32768, 262144,
     VTCR_FIXED | 24 | 1u << 6 | 2u << 14 | 2u << 16, "arm 16K ia 40: L2, 16 tables"},
    {{ARM, 48, 48, 0, 14, 0, 0}, 0, 48, 48, 11, 2, 4096, 32768,
     VTCR_FIXED | 16 | 2u << 6 | 2u << 14 | 5u << 16, "arm 16K ia 48: L1, 2 tables"},
    {{ARM, 36, 36, 0, 14, 0, 0}, 0, 36, 36, 11, 1, 2048, 16384,
     VTCR_FIXED | 28 | 1u << 6 | 2u << 14 | 1u << 16, "arm 16K ia 36: L2 start"},
    {{ARM, 32, 32, 0, 14, 0, 0}, 0, 32, 32, 11, 1, 128, 16384,
     VTCR_FIXED | 32 | 1u << 6 | 2u << 14 | 0u << 16, "arm 16K ia 32: L2 start"},
    {{ARM, 48, 48, 0, 16, 0, 0}, 0, 48, 48, 13, 2, 64, 65536,
     VTCR_FIXED | 16 | 2u << 6 | 1u << 14 | 5u << 16, "arm 64K ia 48: L1 start"},
    {{ARM, 40, 40, 0, 16, 0, 0}, 0, 40, 40, 13, 1, 2048, 65536,
     VTCR_FIXED | 24 | 1u << 6 | 1u << 14 | 2u << 16, "arm 64K ia 40: L2 start"},
    {{ARM, 46, 48, 0, 16, 0, 0}, 0, 46, 48, 13, 1, 131072, 1048576,
     VTCR_FIXED | 18 | 1u << 6 | 1u << 14 | 5u << 16, "arm 64K ia 46: L2, 16 tables"},
    {{ARM, 32, 32, 0, 16, 0, 0}, 0, 32, 32, 13, 1, 8, 65536,
     VTCR_FIXED | 32 | 1u << 6 | 1u << 14 | 0u << 16, "arm 64K ia 32: 2 levels minimum"},
    {{ARM, 0, 0, 4, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "arm levels given"},
    {{ARM, 0, 0, 0, 13, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "arm granule 13"},
    {{ARM, 0, 0, 0, 15, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "arm granule 15"},
    {{ARM, 31, 0, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "arm ia 31"},
    {{ARM, 49, 48, 0, 0, 0, 0}, VC_ENOTSUP, 0, 0, 0, 0, 0, 0, 0, "arm ia 49 (LPA2)"},
    {{ARM, 53, 0, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "arm ia 53"},
    {{ARM, 0, 41, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "arm oa 41: no PS"},
    {{ARM, 0, 52, 0, 0, 0, 0}, VC_ENOTSUP, 0, 0, 0, 0, 0, 0, 0, "arm oa 52 (needs LPA)"},
    {{ARM, 44, 40, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "arm ia > oa"},
    {{ARM, 0, 0, 0, 0, 0, VC_FMT_F_EPT_AD}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "arm EPT_AD"},
    {{ARM, 0, 0, 0, 0, 0, VC_FMT_F_NO_EXEC_ONLY}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0,
     "arm NO_EXEC_ONLY"},
    {{ARM, 0, 0, 0, 0, 0, 8}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "arm unknown flag"},

    /* x86-64 / NPT: 4 levels of 512 entries (APM vol 2 5.3). */
    {{X86, 0, 0, 0, 0, 0, 0}, 0, 48, 52, 9, 3, 512, 4096, 0, "x86 defaults"},
    {{X86, 40, 36, 4, 12, 0, VC_FMT_F_NO_1G}, 0, 40, 36, 9, 3, 2, 4096, 0, "x86 ia 40"},
    {{X86, 39, 0, 0, 0, 0, 0}, 0, 39, 52, 9, 3, 1, 4096, 0, "x86 ia 39"},
    {{X86, 32, 32, 0, 0, 0, 0}, 0, 32, 32, 9, 3, 1, 4096, 0, "x86 ia 32"},
    {{X86, 0, 0, 5, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "x86 5 levels"},
    {{X86, 0, 0, 3, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "x86 3 levels"},
    {{X86, 0, 0, 0, 16, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "x86 64K granule"},
    {{X86, 0, 0, 0, 0, 1, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "x86 vmid"},
    {{X86, 49, 0, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "x86 ia 49"},
    {{X86, 31, 0, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "x86 ia 31"},
    {{X86, 0, 53, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "x86 oa 53"},
    {{X86, 0, 31, 0, 0, 0, 0}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "x86 oa 31"},
    {{X86, 0, 0, 0, 0, 0, VC_FMT_F_EPT_AD}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0, "x86 EPT_AD"},
    {{X86, 0, 0, 0, 0, 0, VC_FMT_F_NO_EXEC_ONLY}, VC_EINVAL, 0, 0, 0, 0, 0, 0, 0,
     "x86 NO_EXEC_ONLY"},
};
/* clang-format on */

START_TEST(fmt_configure)
{
    const struct cfg_case *c = &cfg_cases[_i];
    const struct vc_p2m_format *f = fmt_of(c->in.id);
    struct vc_p2m_format_cfg cfg = cfg_in(&c->in), before = cfg, again;
    int rc = f->configure(&cfg);

    ck_assert_msg(rc == c->rc, "%s: rc %d want %d", c->what, rc, c->rc);
    if (rc != 0) {
        /* a refused configuration leaves the struct alone */
        ck_assert_msg(memcmp(&cfg, &before, sizeof(cfg)) == 0, "%s: cfg changed",
                      c->what);
        return;
    }
    ck_assert_msg(cfg.ia_bits == c->ia, "%s: ia %u", c->what, cfg.ia_bits);
    ck_assert_msg(cfg.oa_bits == c->oa, "%s: oa %u", c->what, cfg.oa_bits);
    ck_assert_msg(cfg.bits_per_level == c->bpl, "%s: bpl %u", c->what,
                  cfg.bits_per_level);
    ck_assert_msg(cfg.root_level == c->root_level, "%s: root_level %u", c->what,
                  cfg.root_level);
    ck_assert_msg(cfg.root_entries == c->root_entries, "%s: root_entries %u", c->what,
                  cfg.root_entries);
    ck_assert_msg(cfg.root_size == c->root_size, "%s: root_size %zu", c->what,
                  cfg.root_size);
    ck_assert_msg(cfg.vtcr == c->vtcr, "%s: vtcr %#" PRIx64 " want %#" PRIx64, c->what,
                  cfg.vtcr, c->vtcr);
    ck_assert_uint_eq(cfg.vmid, c->in.vmid);
    ck_assert_uint_eq(cfg.flags, c->in.flags);
    /* the root holds root_entries 8-byte entries */
    ck_assert_uint_ge(cfg.root_size, (size_t)cfg.root_entries * 8);
    if (c->in.id == ARM)
        ck_assert_uint_eq(cfg.levels, 0);
    else
        ck_assert_uint_eq(cfg.levels, cfg.root_level + 1);
    ck_assert_uint_eq(cfg.granule_shift, c->in.gs ? c->in.gs : 12);
    /* configure() is idempotent on its own output */
    again = cfg;
    ck_assert_int_eq(f->configure(&again), 0);
    ck_assert(memcmp(&again, &cfg, sizeof(cfg)) == 0);
}
END_TEST

/* ---- leaf_ok() ---------------------------------------------------------------- */

struct leaf_case {
    struct fcfg in;
    unsigned char ok[6]; /* levels 0..5 */
    const char *what;
};

/* clang-format off */
static const struct leaf_case leaf_cases[] = {
    /* EPT: PTE 4K, PDE 2M, PDPTE 1G (SDM 29.3.2) */
    {{EPT, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 0, 0, 0}, "ept 4-level"},
    {{EPT, 0, 0, 5, 0, 0, 0}, {1, 1, 1, 0, 0, 0}, "ept 5-level"},
    {{EPT, 0, 0, 0, 0, 0, VC_FMT_F_NO_1G}, {1, 1, 0, 0, 0, 0}, "ept no 1G"},
    /* ARM: L3 pages, L2 blocks, L1 blocks with 4K only (D8.3) */
    {{ARM, 40, 40, 0, 12, 0, 0}, {1, 1, 1, 0, 0, 0}, "arm 4K"},
    {{ARM, 48, 48, 0, 12, 0, VC_FMT_F_NO_1G}, {1, 1, 0, 0, 0, 0}, "arm 4K no 1G"},
    {{ARM, 32, 32, 0, 12, 0, 0}, {1, 1, 0, 0, 0, 0}, "arm 4K ia 32 (root level 1)"},
    {{ARM, 48, 48, 0, 14, 0, 0}, {1, 1, 0, 0, 0, 0}, "arm 16K"},
    {{ARM, 48, 48, 0, 16, 0, 0}, {1, 1, 0, 0, 0, 0}, "arm 64K"},
    /* x86: PTE, PDE PS=1, PDPE PS=1; PS reserved in PML4E (APM 5.3) */
    {{X86, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 0, 0, 0}, "x86"},
    {{X86, 0, 0, 0, 0, 0, VC_FMT_F_NO_1G}, {1, 1, 0, 0, 0, 0}, "x86 no 1G"},
};
/* clang-format on */

START_TEST(fmt_leaf_ok)
{
    const struct leaf_case *c = &leaf_cases[_i];
    struct vc_p2m_format_cfg cfg = setup(&c->in);
    const struct vc_p2m_format *f = fmt_of(c->in.id);

    for (unsigned int l = 0; l < 6; l++)
        ck_assert_msg(f->leaf_ok(&cfg, l) == (bool)c->ok[l], "%s: level %u", c->what, l);
}
END_TEST

/* ---- hand-written encodings ---------------------------------------------------- */

struct enc_case {
    struct fcfg in;
    unsigned int level;
    struct vc_pte pte;
    uint64_t raw;
    const char *what;
};

#define EPT4                                                                             \
    {                                                                                    \
        EPT, 0, 0, 0, 0, 0, 0                                                            \
    }
#define EPT4_NOX                                                                         \
    {                                                                                    \
        EPT, 0, 0, 0, 0, 0, VC_FMT_F_NO_EXEC_ONLY                                        \
    }
#define EPT4_OA40                                                                        \
    {                                                                                    \
        EPT, 0, 40, 0, 0, 0, 0                                                           \
    }
#define ARM4K                                                                            \
    {                                                                                    \
        ARM, 40, 40, 0, 12, 0, 0                                                         \
    }
#define ARM16K                                                                           \
    {                                                                                    \
        ARM, 48, 48, 0, 14, 0, 0                                                         \
    }
#define ARM64K                                                                           \
    {                                                                                    \
        ARM, 48, 48, 0, 16, 0, 0                                                         \
    }
#define X86D                                                                             \
    {                                                                                    \
        X86, 0, 0, 0, 0, 0, 0                                                            \
    }

/* clang-format off */
static const struct enc_case enc_cases[] = {
    /* EPT (SDM 29.3.2): R 0, W 1, X 2, EMT 5:3, IPAT 6, size 7, addr 51:12,
     * SVE 63; software: type 55:52, access {56, 62, 59, 11}. */
    {EPT4, 0, LEAF(0x12345000, R | W | X, VC_MT_WB, 1, 7, false),
     UINT64_C(0x4910000012345077), "ept 4K rwx WB (EMT 6, IPAT), access 7 -> 56/62/59"},
    {EPT4, 1, LEAF(0x40000000, R, VC_MT_WB, 2, 1, true), UINT64_C(0x81200000400000F1),
     "ept 2M r, size bit 7, sve bit 63"},
    {EPT4, 2, LEAF(0x140000000, R | X, VC_MT_UC, 4, 8, false),
     UINT64_C(0x00400001400008C5), "ept 1G rx UC (EMT 0), access bit 3 -> bit 11"},
    {EPT4, 0, LEAF(0x5000, W, VC_MT_WC, 5, 2, false), UINT64_C(0x4050000000005048),
     "ept w-only: W dropped (29.3.3.1), WC = EMT 1"},
    {EPT4, 0, LEAF(0x7000, X, VC_MT_WT, 3, 4, false), UINT64_C(0x0830000000007064),
     "ept execute-only, WT = EMT 4"},
    {EPT4_NOX, 0, LEAF(0x7000, X, VC_MT_WT, 3, 4, false), UINT64_C(0x0830000000007060),
     "ept x-only without execute-only support: dropped"},
    {EPT4, 0, LEAF(0x8000, W | X, VC_MT_WB, 1, 0, false), UINT64_C(0x0010000000008074),
     "ept wx: W dropped"},
    {EPT4, 1, LEAF(0x200000, 0, VC_MT_WP, 5, 0, true), UINT64_C(0x80500000002000E8),
     "ept 2M perms 0 keeps addr/type/sve and size bit, WP = EMT 5"},
    {EPT4, 0, LEAF(0xFFFFFFFFFF000, R | W, VC_MT_WB, 15, 15, false),
     UINT64_C(0x49FFFFFFFFFFF873), "ept top address, type 15, access 15"},
    {EPT4, 3, TABLE(0x1000), UINT64_C(0x1007), "ept PML4E: addr | RWX"},
    {EPT4, 1, TABLE(0xFFFFFFFFFF000),
     UINT64_C(0x000FFFFFFFFFF007), "ept PDE table, top addr"},
    {EPT4_OA40, 0, LEAF(0xFFFFFFF000, R, VC_MT_WB, 1, 0, false),
     UINT64_C(0x001000FFFFFFF071), "ept oa 40 top frame"},
    {EPT4, 0, (struct vc_pte){.kind = VC_PTE_EMPTY}, 0, "ept empty"},

    /* ARM stage 2 (D8.3): valid 0, table/page 1, MemAttr 5:2, S2AP 7:6,
     * SH 9:8 = 11, AF 10, XN 54, software type 58:55. */
    {ARM4K, 0, LEAF(0x12345000, R | W | X, VC_MT_WB, 1, 7, true),
     UINT64_C(0x00800000123457FF), "arm page rwx WB (1111); access/sve not stored"},
    {ARM4K, 1, LEAF(0x40000000, R, VC_MT_UC, 2, 0, false), UINT64_C(0x0140000040000745),
     "arm 2M block r Device-nGnRE (0001), XN"},
    {ARM4K, 2, LEAF(0x80000000, R | X, VC_MT_WC, 3, 0, false),
     UINT64_C(0x0180000080000755), "arm 1G block rx Normal NC (0101)"},
    {ARM4K, 0, LEAF(0x9000, 0, VC_MT_WT, 5, 0, false), UINT64_C(0x02C000000000972B),
     "arm page perms 0: valid, S2AP 00, XN, WT (1010)"},
    {ARM4K, 0, LEAF(0x3000, W, VC_MT_WP, 15, 0, false), UINT64_C(0x07C0000000003787),
     "arm write-only page, WP as Device-nGnRE"},
    {ARM4K, 0, LEAF(0x4000, X, VC_MT_WB, 1, 0, false), UINT64_C(0x008000000000473F),
     "arm execute-only page"},
    {ARM4K, 2, TABLE(0x5000), UINT64_C(0x5003), "arm table descriptor 0b11"},
    {ARM4K, 0, LEAF(0xFFFFFFF000, R | W, VC_MT_WB, 1, 0, false),
     UINT64_C(0x00C000FFFFFFF7FF), "arm oa 40 top frame"},
    {ARM64K, 1, LEAF(0x20000000, R | W, VC_MT_WB, 1, 0, false),
     UINT64_C(0x00C00000200007FD), "arm 64K 512M block"},
    {ARM64K, 0, LEAF(0x10000, X, VC_MT_WB, 1, 0, false), UINT64_C(0x008000000001073F),
     "arm 64K page"},
    {ARM64K, 2, TABLE(0x7FFFFFFF0000), UINT64_C(0x00007FFFFFFF0003), "arm 64K table"},
    {ARM16K, 1, LEAF(0x2000000, R, VC_MT_WB, 2, 0, false), UINT64_C(0x014000000200077D),
     "arm 16K 32M block"},
    {ARM16K, 2, TABLE(0x4000), UINT64_C(0x4003), "arm 16K table"},
    {ARM4K, 1, (struct vc_pte){.kind = VC_PTE_EMPTY}, 0, "arm empty"},

    /* x86-64 / NPT (APM 5.4): P 0, RW 1, US 2, PWT 3, PCD 4, PS 7, addr 51:12,
     * NX 63; software: type 55:52, access {56, 57, 58, 9}, sve 10. */
    {X86D, 0, LEAF(0x12345000, R | W | X, VC_MT_WB, 1, 7, false),
     UINT64_C(0x0710000012345007), "x86 4K rwx WB (PAT 0)"},
    {X86D, 1, LEAF(0x40000000, R, VC_MT_WT, 2, 8, true), UINT64_C(0x802000004000068D),
     "x86 2M r WT (PWT, PAT 1), access bit 3 -> 9, sve 10, NX"},
    {X86D, 2, LEAF(0x140000000, R | W, VC_MT_UC, 4, 3, false),
     UINT64_C(0x834000014000009F), "x86 1G rw UC (PCD|PWT, PAT 3)"},
    {X86D, 0, LEAF(0x6000, X, VC_MT_WB, 5, 4, false), UINT64_C(0x8450000000006004),
     "x86 x-only: nothing without R, written not present"},
    {X86D, 0, LEAF(0x1000, R, VC_MT_WC, 1, 0, false), UINT64_C(0x801000000000101D),
     "x86 WC not in default PAT: UC"},
    {X86D, 1, LEAF(0x200000, 0, VC_MT_WB, 5, 0, false), UINT64_C(0x8050000000200084),
     "x86 2M perms 0 keeps PS"},
    {X86D, 0, LEAF(0x2000, W, VC_MT_WP, 6, 15, true), UINT64_C(0x876000000000261C),
     "x86 w-only: not present, WP as UC"},
    {X86D, 3, TABLE(0x1000), UINT64_C(0x1007), "x86 PML4E: addr | P | RW | US"},
    {X86D, 1, TABLE(0xFFFFFFFFFF000),
     UINT64_C(0x000FFFFFFFFFF007), "x86 PDE table top addr"},
    {X86D, 2, (struct vc_pte){.kind = VC_PTE_EMPTY}, 0, "x86 empty"},
};
/* clang-format on */

START_TEST(fmt_encode_table)
{
    const struct enc_case *c = &enc_cases[_i];
    struct vc_p2m_format_cfg cfg = setup(&c->in);
    const struct vc_p2m_format *f = fmt_of(c->in.id);
    struct vc_pte got, want;
    uint64_t raw = f->encode(&cfg, c->level, &c->pte);

    ck_assert_msg(raw == c->raw, "%s: raw %#018" PRIx64 " want %#018" PRIx64, c->what,
                  raw, c->raw);
    ck_assert_msg(f->decode(&cfg, c->level, c->raw, &got) == 0, "%s: decode", c->what);
    want = model(c->in.id, &cfg, &c->pte);
    pte_eq(&got, &want, c->what);
}
END_TEST

/* ---- every level x perms x memory type, from per-field spec tables -------------- */

struct field_spec {
    enum vc_p2m_format_id id;
    uint64_t perm_bits[8]; /* raw bits for perms 0..7 (after drops) */
    unsigned int perms_kept[8];
    uint64_t mt_bits[VC_MT_NR];
    enum vc_memtype mt_kept[VC_MT_NR];
    uint64_t leaf_base[3]; /* always-set bits of a leaf at levels 0, 1, 2 */
    unsigned int type_shift;
    unsigned int access_pos[4];
    int sve_pos; /* -1: not stored */
};

/* clang-format off */
static const struct field_spec field_specs[] = {
    {EPT,
     /* SDM 29.3.2: R bit 0, W bit 1, X bit 2; W without R dropped (29.3.3.1) */
     {0, 1, 0, 3, 4, 5, 4, 7},
     {0, R, 0, R | W, X, R | X, X, R | W | X},
     /* SDM 29.3.7.2: EMT in bits 5:3: WB 6, UC 0, WC 1, WT 4, WP 5 */
     {6u << 3, 0u << 3, 1u << 3, 4u << 3, 5u << 3},
     {VC_MT_WB, VC_MT_UC, VC_MT_WC, VC_MT_WT, VC_MT_WP},
     /* IPAT bit 6; bit 7 for PDE/PDPTE pages */
     {B(6), B(6) | B(7), B(6) | B(7)},
     52,
     {56, 62, 59, 11},
     63},
    {ARM,
     /* D8.4: S2AP[0] bit 6 read, S2AP[1] bit 7 write, XN[1] bit 54 */
     {B(54), B(6) | B(54), B(7) | B(54), B(6) | B(7) | B(54), 0, B(6), B(7), B(6) | B(7)},
     {0, R, W, R | W, X, R | X, W | X, R | W | X},
     /* D8.6 MemAttr[3:0] at bits 5:2: 1111, 0001, 0101, 1010, WP -> 0001 */
     {0xFu << 2, 0x1u << 2, 0x5u << 2, 0xAu << 2, 0x1u << 2},
     {VC_MT_WB, VC_MT_UC, VC_MT_WC, VC_MT_WT, VC_MT_UC},
     /* valid, page bit 1 at ARM level 3, SH 0b11, AF */
     {0x703, 0x701, 0x701},
     55,
     {0, 0, 0, 0},
     -1},
    {X86,
     /* APM 5.4: P bit 0, RW bit 1, NX bit 63; nothing without R */
     {B(63), 1 | B(63), B(63), 3 | B(63), B(63), 1, B(63), 3},
     {0, R, 0, R | W, 0, R | X, 0, R | W | X},
     /* APM 7.8 default PAT: WB 0, WT 1 (PWT), UC 3 (PCD|PWT); WC/WP -> UC */
     {0, 0x18, 0x18, 0x08, 0x18},
     {VC_MT_WB, VC_MT_UC, VC_MT_UC, VC_MT_WT, VC_MT_UC},
     /* US bit 2; PS bit 7 at levels 1 and 2 */
     {B(2), B(2) | B(7), B(2) | B(7)},
     52,
     {56, 57, 58, 9},
     10},
};
/* clang-format on */

static uint64_t sw_bits(const struct field_spec *fs, unsigned int type,
                        unsigned int access, bool sve)
{
    uint64_t v = (uint64_t)type << fs->type_shift;

    if (fs->sve_pos >= 0) {
        for (unsigned int b = 0; b < 4; b++)
            if (access & (1u << b))
                v |= B(fs->access_pos[b]);
        if (sve)
            v |= B(fs->sve_pos);
    }
    return v;
}

START_TEST(fmt_encode_matrix)
{
    const struct field_spec *fs = &field_specs[_i];
    struct fcfg in = {fs->id, 0, 0, 0, 0, 0, 0};
    struct vc_p2m_format_cfg cfg;
    const struct vc_p2m_format *f = fmt_of(fs->id);
    unsigned int n = 0;

    if (fs->id == ARM) {
        in.ia = 48;
        in.oa = 48;
    }
    cfg = setup(&in);
    for (unsigned int level = 0; level <= 2; level++) {
        uint64_t addr = UINT64_C(0x7654321000) & ~((B(12 + 9 * level)) - 1);
        ck_assert(f->leaf_ok(&cfg, level));
        for (unsigned int perms = 0; perms < 8; perms++) {
            for (unsigned int mt = 0; mt < VC_MT_NR; mt++) {
                unsigned int type = 1 + (perms * 5 + mt) % 15;
                unsigned int access = (perms * 3 + mt * 7 + level) % 16;
                bool sve = (perms + mt) & 1;
                struct vc_pte in_pte =
                    LEAF(addr, perms, (enum vc_memtype)mt, type, access, sve);
                struct vc_pte got;
                char what[96];
                uint64_t want = fs->leaf_base[level] | fs->perm_bits[perms] |
                                fs->mt_bits[mt] | addr | sw_bits(fs, type, access, sve);
                uint64_t raw = f->encode(&cfg, level, &in_pte);

                snprintf(what, sizeof(what), "%s level %u perms %u mt %u", f->name, level,
                         perms, mt);
                ck_assert_msg(raw == want, "%s: raw %#018" PRIx64 " want %#018" PRIx64,
                              what, raw, want);
                ck_assert_msg(f->decode(&cfg, level, raw, &got) == 0, "%s: decode", what);
                ck_assert_int_eq(got.kind, VC_PTE_LEAF);
                ck_assert_uint_eq(got.addr, addr);
                ck_assert_msg(got.perms == fs->perms_kept[perms], "%s: perms %u", what,
                              got.perms);
                ck_assert_uint_eq(got.perms & ~perms, 0); /* never adds */
                ck_assert_int_eq(got.mt, fs->mt_kept[mt]);
                ck_assert_uint_eq(got.type, type);
                ck_assert_uint_eq(got.access, fs->sve_pos >= 0 ? access : 0);
                ck_assert_int_eq(got.sve, fs->sve_pos >= 0 ? sve : false);
                n++;
            }
        }
    }
    ck_assert_uint_eq(n, 3 * 8 * VC_MT_NR);
}
END_TEST

/* ---- decode of illegal encodings ------------------------------------------------- */

struct bad_case {
    struct fcfg in;
    unsigned int level;
    uint64_t raw;
    const char *what;
};

#define EPT4_NO1G                                                                        \
    {                                                                                    \
        EPT, 0, 0, 0, 0, 0, VC_FMT_F_NO_1G                                               \
    }
#define ARM4K_NO1G                                                                       \
    {                                                                                    \
        ARM, 40, 40, 0, 12, 0, VC_FMT_F_NO_1G                                            \
    }
#define X86_OA40                                                                         \
    {                                                                                    \
        X86, 0, 40, 0, 0, 0, 0                                                           \
    }
#define X86_NO1G                                                                         \
    {                                                                                    \
        X86, 0, 0, 0, 0, 0, VC_FMT_F_NO_1G                                               \
    }

/* clang-format off */
static const struct bad_case bad_cases[] = {
    /* EPT; a good 4K leaf for reference: 0x0010000000001077 (rwx WB type 1) */
    {EPT4, 0, UINT64_C(0x0010000000001072), "ept W without R (29.3.3.1)"},
    {EPT4, 1, UINT64_C(0x00100000002000F6), "ept WX without R, 2M"},
    {EPT4_NOX, 0, UINT64_C(0x0010000000001074), "ept X-only without execute-only"},
    {EPT4, 1, UINT64_C(0x1003), "ept table without X"},
    {EPT4, 2, UINT64_C(0x1000), "ept table without RWX"},
    {EPT4, 1, UINT64_C(0x0010000000001007), "ept table with type bits"},
    {EPT4, 1, UINT64_C(0x0100000000001007), "ept table with access bit 56"},
    {EPT4, 1, UINT64_C(0x1807), "ept table with access bit 11"},
    {EPT4, 1, UINT64_C(0x8000000000001007), "ept table with suppress-#VE"},
    {EPT4, 3, UINT64_C(0x100F), "ept table with memory type bits (reserved)"},
    {EPT4, 3, UINT64_C(0x1047), "ept table with IPAT bit (reserved)"},
    {EPT4, 0, UINT64_C(0x0010000000001057), "ept memory type 2 (29.3.3.1)"},
    {EPT4, 0, UINT64_C(0x001000000000105F), "ept memory type 3"},
    {EPT4, 1, UINT64_C(0x00100000002000FF), "ept memory type 7"},
    {EPT4_OA40, 0, UINT64_C(0x0010010000001077), "ept leaf address bit 40 with oa 40"},
    {EPT4_OA40, 2, UINT64_C(0x0000800000001007), "ept table address bit 47 with oa 40"},
    {EPT4, 0, UINT64_C(0x00100000000010F7), "ept bit 7 in a PTE"},
    {EPT4, 3, UINT64_C(0x00100000000000F7), "ept bit 7 in a PML4E (reserved)"},
    {EPT4_NO1G, 2, UINT64_C(0x00100000400000F7), "ept 1G page with NO_1G"},
    {EPT4, 1, UINT64_C(0x00100000402000F7) | B(12), "ept misaligned 2M page"},
    {EPT4, 2, UINT64_C(0x00100000402000F7), "ept misaligned 1G page"},
    {EPT4, 0, UINT64_C(0x0010000000001477), "ept bit 10 (MBEC user-execute)"},
    {EPT4, 0, UINT64_C(0x0210000000001077), "ept bit 57 (verify guest paging)"},
    {EPT4, 0, UINT64_C(0x1010000000001077), "ept bit 60 (supervisor shadow stack)"},
    {EPT4, 0, UINT64_C(0x2010000000001077), "ept bit 61 (sub-page write)"},
    {EPT4, 0, UINT64_C(0x0410000000001077), "ept bit 58 (paging-write, avoided)"},
    {EPT4, 0, UINT64_C(0x0010000000001037), "ept leaf without IPAT"},
    {EPT4, 0, UINT64_C(0x0000000000001070), "ept not present, type 0"},
    {EPT4, 0, UINT64_C(0x300), "ept only A/D"},
    {EPT4, 4, UINT64_C(0x1007), "ept level above the root"},

    /* ARM stage 2; good page: 0x00800000123457FF */
    {ARM4K, 0, UINT64_C(0x00800000123457FE), "arm invalid descriptor with bits"},
    {ARM4K, 1, UINT64_C(0x0000000000005002), "arm invalid table"},
    {ARM4K, 0, UINT64_C(0x00800000123457FD), "arm 0b01 at level 3 (reserved, D8.3)"},
    {ARM4K_NO1G, 2, UINT64_C(0x0180000080000755), "arm 1G block with NO_1G"},
    {ARM16K, 2, UINT64_C(0x018000100000077D), "arm 16K level-1 block (needs 52-bit)"},
    {ARM64K, 2, UINT64_C(0x018000000000077D), "arm 64K level-1 block (needs 52-bit)"},
    {ARM4K, 0, UINT64_C(0x00800000123453FF), "arm AF clear"},
    {ARM4K, 0, UINT64_C(0x00800000123456FF), "arm SH outer shareable"},
    {ARM4K, 0, UINT64_C(0x00800000123454FF), "arm SH non-shareable"},
    {ARM4K, 0, UINT64_C(0x00800000123457C3), "arm MemAttr 0000 Device-nGnRnE"},
    {ARM4K, 0, UINT64_C(0x00800000123457D3), "arm MemAttr 0100 (reserved)"},
    {ARM4K, 0, UINT64_C(0x00800000123457FB), "arm MemAttr 1110 (never written)"},
    {ARM4K, 0, UINT64_C(0x00A00000123457FF), "arm XN[0] bit 53"},
    {ARM4K, 0, UINT64_C(0x00880000123457FF), "arm DBM bit 51"},
    {ARM4K, 0, UINT64_C(0x00900000123457FF), "arm contiguous bit 52"},
    {ARM4K, 0, UINT64_C(0x08800000123457FF), "arm PBHA bit 59"},
    {ARM4K, 0, UINT64_C(0x40800000123457FF), "arm PBHA bit 62"},
    {ARM4K, 0, UINT64_C(0x80800000123457FF), "arm bit 63"},
    {ARM4K, 0, UINT64_C(0x0080000012345FFF), "arm bit 11 (FnXS)"},
    {ARM4K, 0, UINT64_C(0x00800100123457FF), "arm address bit 40 with oa 40"},
    {ARM4K, 1, UINT64_C(0x0140000040001745), "arm misaligned 2M block"},
    {ARM4K, 2, UINT64_C(0x0000000000005403), "arm table with AF"},
    {ARM4K, 2, UINT64_C(0x0080000000005003), "arm table with software bits"},
    {ARM4K, 2, UINT64_C(0x8000000000005003), "arm table with bit 63 (NSTable)"},
    {ARM4K, 2, UINT64_C(0x0000010000005003), "arm table address bit 40 with oa 40"},
    {ARM64K, 0, UINT64_C(0x008000000001173F), "arm 64K page with OA[51:48] bits 15:12"},
    {ARM64K, 1, UINT64_C(0x0000000000011003), "arm 64K table misaligned (bit 12)"},
    {ARM4K, 3, UINT64_C(0x5003), "arm level above the root"},

    /* x86; good 4K leaf: 0x0010000000001007 (rwx WB type 1) */
    {X86D, 0, UINT64_C(0x8000000000001004), "x86 not present, type 0"},
    {X86D, 1, UINT64_C(0x8010000000001004), "x86 not present, no PS, level 1"},
    {X86D, 0, UINT64_C(0x8050000000001006), "x86 not present with RW"},
    {X86D, 0, UINT64_C(0x0050000000001004), "x86 not present without NX"},
    {X86D, 1, UINT64_C(0x1006), "x86 table not present"},
    {X86D, 1, UINT64_C(0x100F), "x86 table with PWT"},
    {X86D, 1, UINT64_C(0x1017), "x86 table with PCD"},
    {X86D, 2, UINT64_C(0x8000000000001007), "x86 table with NX"},
    {X86D, 3, UINT64_C(0x0010000000001007), "x86 table with type bits"},
    {X86D, 3, UINT64_C(0x1407), "x86 table with sve bit 10"},
    {X86D, 3, UINT64_C(0x1003), "x86 table without US"},
    {X86D, 3, UINT64_C(0x1005), "x86 table without RW"},
    {X86D, 0, UINT64_C(0x0010000000001087), "x86 PAT bit 7 in a PTE"},
    {X86D, 1, UINT64_C(0x0010000040001087), "x86 PAT bit 12 in a 2M entry"},
    {X86D, 2, UINT64_C(0x0010000040001087), "x86 PAT bit 12 in a 1G entry"},
    {X86D, 3, UINT64_C(0x0010000000000087), "x86 PS in a PML4E (reserved)"},
    {X86_NO1G, 2, UINT64_C(0x0010000040000087), "x86 1G page with NO_1G"},
    {X86D, 1, UINT64_C(0x0010000040002087), "x86 misaligned 2M page"},
    {X86D, 0, UINT64_C(0x0010000000001003), "x86 leaf without US"},
    {X86D, 0, UINT64_C(0x0010000000001807), "x86 bit 11"},
    {X86D, 0, UINT64_C(0x0810000000001007), "x86 bit 59 (protection key)"},
    {X86D, 0, UINT64_C(0x4010000000001007), "x86 bit 62 (protection key)"},
    {X86_OA40, 0, UINT64_C(0x0010010000001007), "x86 address bit 40 with oa 40"},
    {X86_OA40, 3, UINT64_C(0x0000010000001007), "x86 table address bit 40 with oa 40"},
    {X86D, 0, UINT64_C(0x20), "x86 only A"},
    {X86D, 2, UINT64_C(0x60), "x86 only A/D"},
};
/* clang-format on */

START_TEST(fmt_decode_bad)
{
    const struct bad_case *c = &bad_cases[_i];
    struct vc_p2m_format_cfg cfg = setup(&c->in);
    const struct vc_p2m_format *f = fmt_of(c->in.id);
    struct vc_pte pte;
    int rc = f->decode(&cfg, c->level, c->raw, &pte);

    ck_assert_msg(rc == VC_ECORRUPT, "%s (%#018" PRIx64 " level %u): rc %d", c->what,
                  c->raw, c->level, rc);
}
END_TEST

/* ---- hardware-set bits, empty entries, UC- ---------------------------------------- */

START_TEST(fmt_ad_bits_ignored)
{
    static const struct {
        struct fcfg in;
        unsigned int level;
        uint64_t raw, hw_bits;
    } cases[] = {
        /* EPT A bit 8, D bit 9 (SDM 29.3.5) */
        {EPT4, 0, UINT64_C(0x4910000012345077), B(8) | B(9)},
        {EPT4, 1, UINT64_C(0x00500000002000E8), B(8) | B(9)},
        {EPT4, 3, UINT64_C(0x1007), B(8)},
        {EPT4, 2, UINT64_C(0x1007), B(8) | B(9)},
        /* x86 A bit 5, D bit 6 (APM 5.4.2) */
        {X86D, 0, UINT64_C(0x0710000012345007), B(5) | B(6)},
        {X86D, 2, UINT64_C(0x834000014000009F), B(5) | B(6)},
        {X86D, 3, UINT64_C(0x1007), B(5)},
        {X86D, 1, UINT64_C(0x1007), B(5) | B(6)},
    };

    for (unsigned int i = 0; i < VC_ARRAY_SIZE(cases); i++) {
        struct vc_p2m_format_cfg cfg = setup(&cases[i].in);
        const struct vc_p2m_format *f = fmt_of(cases[i].in.id);
        struct vc_pte a, b;
        uint64_t bits = cases[i].hw_bits;

        ck_assert_int_eq(f->decode(&cfg, cases[i].level, cases[i].raw, &a), 0);
        ck_assert_int_ne(a.kind, VC_PTE_EMPTY);
        /* each subset of the hardware bits */
        for (uint64_t sub = bits;; sub = (sub - 1) & bits) {
            ck_assert_int_eq(f->decode(&cfg, cases[i].level, cases[i].raw | sub, &b), 0);
            pte_eq(&b, &a, "A/D set");
            if (sub == 0)
                break;
        }
    }
}
END_TEST

START_TEST(fmt_empty)
{
    static const struct fcfg ins[] = {EPT4, ARM4K, X86D, ARM64K};

    for (unsigned int i = 0; i < VC_ARRAY_SIZE(ins); i++) {
        struct vc_p2m_format_cfg cfg = setup(&ins[i]);
        const struct vc_p2m_format *f = fmt_of(ins[i].id);
        struct vc_pte e = {.kind = VC_PTE_EMPTY, .addr = 0x1000, .perms = 7, .type = 3};
        struct vc_pte got;

        for (unsigned int l = 0; l <= cfg.root_level; l++) {
            ck_assert_uint_eq(f->encode(&cfg, l, &e), 0);
            memset(&got, 0xa5, sizeof(got));
            ck_assert_int_eq(f->decode(&cfg, l, 0, &got), 0);
            ck_assert_int_eq(got.kind, VC_PTE_EMPTY);
            ck_assert_uint_eq(got.addr, 0);
            ck_assert_uint_eq(got.perms, 0);
            ck_assert_uint_eq(got.type, 0);
        }
    }
}
END_TEST

START_TEST(fmt_x86_uc_minus)
{
    /* APM 7.8: default PAT entry 2 is UC-; the p2m reads it as UC. */
    struct fcfg in = X86D;
    struct vc_p2m_format_cfg cfg = setup(&in);
    const struct vc_p2m_format *f = fmt_of(X86);
    struct vc_pte p;

    ck_assert_int_eq(f->decode(&cfg, 0, UINT64_C(0x8010000000001015), &p), 0);
    ck_assert_int_eq(p.kind, VC_PTE_LEAF);
    ck_assert_int_eq(p.mt, VC_MT_UC);
    ck_assert_uint_eq(p.perms, R);
}
END_TEST

/* ---- hardware root pointers ---------------------------------------------------- */

START_TEST(fmt_hw_pointer)
{
    static const struct {
        struct fcfg in;
        uint64_t root, want;
        const char *what;
    } cases[] = {
        /* EPTP (SDM 24.6.11): 2:0 WB = 6, 5:3 walk length - 1, bit 6 A/D */
        {{EPT, 0, 0, 0, 0, 0, 0}, 0x12345000, UINT64_C(0x1234501E), "eptp 4-level"},
        {{EPT, 0, 0, 4, 0, 0, VC_FMT_F_EPT_AD},
         0x12345000,
         UINT64_C(0x1234505E),
         "eptp 4-level A/D"},
        {{EPT, 0, 0, 5, 0, 0, 0},
         0xFFFFFFFFFF000,
         UINT64_C(0x000FFFFFFFFFF026),
         "eptp 5-level"},
        {{EPT, 0, 0, 5, 0, 0, VC_FMT_F_EPT_AD | VC_FMT_F_NO_1G},
         0x12345000,
         UINT64_C(0x12345066),
         "eptp 5-level A/D"},
        /* VTTBR_EL2: BADDR 47:1, VMID 63:48 */
        {{ARM, 40, 40, 0, 12, 5, 0},
         0x80002000,
         UINT64_C(0x0005000080002000),
         "vttbr vmid 5"},
        {{ARM, 48, 48, 0, 16, 0x1234, 0},
         0x7FFF00000000,
         UINT64_C(0x12347FFF00000000),
         "vttbr 16-bit vmid"},
        {{ARM, 32, 32, 0, 12, 0, 0}, 0x4000, UINT64_C(0x4000), "vttbr vmid 0"},
        /* nCR3 (APM 15.25): the PML4 address */
        {{X86, 0, 0, 0, 0, 0, 0}, 0x123456000, UINT64_C(0x123456000), "ncr3"},
    };

    for (unsigned int i = 0; i < VC_ARRAY_SIZE(cases); i++) {
        struct vc_p2m_format_cfg cfg = setup(&cases[i].in);
        uint64_t v = fmt_of(cases[i].in.id)->hw_pointer(&cfg, cases[i].root);
        ck_assert_msg(v == cases[i].want, "%s: %#" PRIx64 " want %#" PRIx64,
                      cases[i].what, v, cases[i].want);
    }
}
END_TEST

/* ---- randomized properties ---------------------------------------------------- */

static uint64_t rnd_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* clang-format off */
static const struct fcfg rnd_cfgs[] = {
    {EPT, 0, 0, 0, 0, 0, 0},
    {EPT, 0, 0, 5, 0, 0, VC_FMT_F_EPT_AD},
    {EPT, 40, 36, 0, 0, 0, VC_FMT_F_NO_EXEC_ONLY | VC_FMT_F_NO_1G},
    {ARM, 40, 40, 0, 12, 7, 0},
    {ARM, 48, 48, 0, 12, 0, VC_FMT_F_NO_1G},
    {ARM, 32, 36, 0, 12, 0, 0},
    {ARM, 48, 48, 0, 14, 0, 0},
    {ARM, 40, 42, 0, 16, 0, 0},
    {X86, 0, 0, 0, 0, 0, 0},
    {X86, 36, 40, 0, 0, 0, VC_FMT_F_NO_1G},
};
/* clang-format on */

/* Bits [hi-1:lo]. */
static uint64_t range_mask(unsigned int lo, unsigned int hi)
{
    return (hi >= 64 ? ~UINT64_C(0) : B(hi) - 1) & ~(B(lo) - 1);
}

/* The canonical form of a raw entry: hardware-set bits cleared (EPT A/D, x86
 * A/D) and the x86 UC- index read as UC. */
static uint64_t canon(enum vc_p2m_format_id id, uint64_t raw)
{
    switch (id) {
    case EPT:
        return raw & ~(B(8) | B(9));
    case X86:
        raw &= ~(B(5) | B(6));
        if (raw & B(4))
            raw |= B(3);
        return raw;
    case ARM:
        break;
    }
    return raw;
}

static struct vc_pte random_entry(uint64_t *seed, const struct vc_p2m_format_cfg *cfg,
                                  const struct vc_p2m_format *f, unsigned int *level)
{
    struct vc_pte p;
    unsigned int l;

    memset(&p, 0, sizeof(p));
    for (;;) {
        l = (unsigned int)(rnd_next(seed) % (cfg->root_level + 1));
        bool leaf = f->leaf_ok(cfg, l) && (l == 0 || rnd_next(seed) % 2);
        if (leaf) {
            uint64_t r = rnd_next(seed);
            p.kind = VC_PTE_LEAF;
            p.addr =
                rnd_next(seed) &
                range_mask(cfg->granule_shift + l * cfg->bits_per_level, cfg->oa_bits);
            p.perms = (unsigned int)(r & 7);
            p.mt = (enum vc_memtype)((r >> 3) % VC_MT_NR);
            p.type = 1 + (unsigned int)((r >> 8) % 15);
            p.access = (unsigned int)((r >> 12) & 15);
            p.sve = (r >> 16) & 1;
            break;
        }
        if (l >= 1) {
            p.kind = VC_PTE_TABLE;
            p.addr = rnd_next(seed) & range_mask(cfg->granule_shift, cfg->oa_bits);
            break;
        }
    }
    *level = l;
    return p;
}

START_TEST(fmt_random_roundtrip)
{
    uint64_t seed = UINT64_C(0x9E3779B97F4A7C15) + (uint64_t)_i;
    const struct fcfg *in = &rnd_cfgs[_i];
    struct vc_p2m_format_cfg cfg = setup(in);
    const struct vc_p2m_format *f = fmt_of(in->id);
    unsigned int leaves = 0, tables = 0;

    for (unsigned int n = 0; n < 4000; n++) {
        unsigned int level;
        struct vc_pte p = random_entry(&seed, &cfg, f, &level), got, want, again;
        uint64_t raw = f->encode(&cfg, level, &p), hw;
        char what[128];

        snprintf(what, sizeof(what), "%s iter %u level %u raw %#018" PRIx64, f->name, n,
                 level, raw);
        ck_assert_msg(raw != 0, "%s: zero encoding", what);
        ck_assert_msg(f->decode(&cfg, level, raw, &got) == 0, "%s: decode", what);
        want = model(in->id, &cfg, &p);
        pte_eq(&got, &want, what);
        if (p.kind == VC_PTE_LEAF) {
            leaves++;
            ck_assert_msg((got.perms & ~p.perms) == 0, "%s: perms added", what);
            /* software fields the format does not store read back as 0 */
            if (!(f->sw_fields & VC_FMT_SW_ACCESS))
                ck_assert_uint_eq(got.access, 0);
            if (!(f->sw_fields & VC_FMT_SW_SVE))
                ck_assert(!got.sve);
        } else {
            tables++;
        }
        /* encode(decode(raw)) == raw */
        ck_assert_msg(f->encode(&cfg, level, &got) == raw, "%s: re-encode", what);
        /* hardware-set A/D bits change nothing */
        hw = in->id == EPT ? (B(8) | B(9)) : in->id == X86 ? (B(5) | B(6)) : 0;
        if (hw) {
            ck_assert_msg(f->decode(&cfg, level, raw | hw, &again) == 0, "%s: A/D", what);
            pte_eq(&again, &got, what);
        }
    }
    ck_assert_uint_gt(leaves, 1000);
    ck_assert_uint_gt(tables, 500);
}
END_TEST

/* Flip random bits of valid entries: decode either refuses (VC_ECORRUPT)
 * or returns an entry that encodes back to the same canonical raw value. */
START_TEST(fmt_random_mutation)
{
    uint64_t seed = UINT64_C(0xD1B54A32D192ED03) ^ ((uint64_t)_i << 32);
    const struct fcfg *in = &rnd_cfgs[_i];
    struct vc_p2m_format_cfg cfg = setup(in);
    const struct vc_p2m_format *f = fmt_of(in->id);
    unsigned int refused = 0, accepted = 0;

    for (unsigned int n = 0; n < 4000; n++) {
        unsigned int level;
        struct vc_pte p = random_entry(&seed, &cfg, f, &level), got;
        uint64_t raw = f->encode(&cfg, level, &p);
        uint64_t flips = B(rnd_next(&seed) % 64);
        int rc;

        if (n & 1)
            flips |= B(rnd_next(&seed) % 64);
        raw ^= flips;
        rc = f->decode(&cfg, level, raw, &got);
        if (rc != 0) {
            ck_assert_int_eq(rc, VC_ECORRUPT);
            refused++;
            continue;
        }
        if (raw == 0) {
            ck_assert_int_eq(got.kind, VC_PTE_EMPTY);
            continue;
        }
        accepted++;
        ck_assert_msg(f->encode(&cfg, level, &got) == canon(in->id, raw),
                      "%s: accepted non-canonical %#018" PRIx64 " at level %u", f->name,
                      raw, level);
    }
    ck_assert_uint_gt(refused, 200);
    ck_assert_uint_gt(accepted, 200);
}
END_TEST

/* ---- registration ------------------------------------------------------------- */

void p2m_add_format_tests(Suite *s)
{
    TCase *tc;

    tc = tcase_create("formats");
    tcase_add_test(tc, fmt_registry);
    tcase_add_loop_test(tc, fmt_configure, 0, (int)VC_ARRAY_SIZE(cfg_cases));
    tcase_add_loop_test(tc, fmt_leaf_ok, 0, (int)VC_ARRAY_SIZE(leaf_cases));
    tcase_add_loop_test(tc, fmt_encode_table, 0, (int)VC_ARRAY_SIZE(enc_cases));
    tcase_add_loop_test(tc, fmt_encode_matrix, 0, (int)VC_ARRAY_SIZE(field_specs));
    tcase_add_loop_test(tc, fmt_decode_bad, 0, (int)VC_ARRAY_SIZE(bad_cases));
    tcase_add_test(tc, fmt_ad_bits_ignored);
    tcase_add_test(tc, fmt_empty);
    tcase_add_test(tc, fmt_x86_uc_minus);
    tcase_add_test(tc, fmt_hw_pointer);
    suite_add_tcase(s, tc);

    tc = tcase_create("formats_random");
    tcase_add_loop_test(tc, fmt_random_roundtrip, 0, (int)VC_ARRAY_SIZE(rnd_cfgs));
    tcase_add_loop_test(tc, fmt_random_mutation, 0, (int)VC_ARRAY_SIZE(rnd_cfgs));
    suite_add_tcase(s, tc);
}
