/* SPDX-License-Identifier: MIT */
/*
 * x86-64 long-mode 4-level page tables as AMD nested paging (NPT) walks
 * them, 4 KiB granule.
 *
 * References: AMD APM vol 2 5.3 (long-mode page translation: PML4E, PDPE,
 * PDE, PTE formats, 5.3.3 .. 5.3.5), 5.4 (page-translation-table entry
 * fields: P, R/W, U/S, PWT, PCD, A, D, PS, PAT, NX), 7.8 (page-attribute
 * table and its default value), 15.25 (nested paging: nCR3, nested walks
 * are user-level accesses).
 *
 * Entry layout (APM vol 2 5.3.3 / 5.4):
 *   bit 0      P present             bit 1  R/W writable
 *   bit 2      U/S user (always 1: nested walks are user accesses, 15.25)
 *   bit 3      PWT                   bit 4  PCD
 *   bit 5      A accessed            bit 6  D dirty (leaves) -- set by hw
 *   bit 7      PS in PDPE/PDE (1 GiB / 2 MiB pages); PAT in a PTE;
 *              reserved (MBZ) in a PML4E
 *   bit 12     PAT in a 1 GiB / 2 MiB page entry (always 0 here)
 *   bits 51:12 physical address
 *   bit 63     NX (needs EFER.NXE on the host)
 * Software fields in the available bits (9-11, 52-58; 59-62 are the
 * protection key with CR4.PKE and are left alone):
 *   bits 55:52 p2m type; access bits 0..2 -> 56, 57, 58, access bit 3 -> 9;
 *   bit 10 suppress-#VE (bookkeeping only: NPT has no #VE).
 * Memory types come from the default PAT (APM vol 2 7.8: PAT0 WB, PAT1
 * WT, PAT2 UC-, PAT3 UC, repeated for PAT4-7), index PAT:PCD:PWT.
 */
#include "internal/core.h"
#include "internal/p2m_formats.h"

#define B(n) (UINT64_C(1) << (n))

/* APM vol 2 5.4 */
#define X86_P         B(0)
#define X86_RW        B(1)
#define X86_US        B(2)
#define X86_PWT       B(3)
#define X86_PCD       B(4)
#define X86_A         B(5)
#define X86_D         B(6)
#define X86_AD        (X86_A | X86_D)
#define X86_PS        B(7)
#define X86_PAT_4K    B(7)
#define X86_PAT_LARGE B(12)
#define X86_NX        B(63)

/* Software fields (available bits, APM vol 2 5.4.1). */
#define X86_TYPE_SHIFT 52
#define X86_TYPE_MASK  (UINT64_C(0xf) << X86_TYPE_SHIFT)
#define X86_ACC0       B(56)
#define X86_ACC1       B(57)
#define X86_ACC2       B(58)
#define X86_ACC3       B(9)
#define X86_ACC_MASK   (X86_ACC0 | X86_ACC1 | X86_ACC2 | X86_ACC3)
#define X86_SVE        B(10)

#define X86_GRANULE_SHIFT  12
#define X86_BITS_PER_LEVEL 9
#define X86_LEVELS         4
#define X86_MAX_OA         52 /* APM vol 2 5.3: physical address bits 51:12 */

static uint64_t bit_range(unsigned int lo, unsigned int hi)
{
    uint64_t top = hi >= 64 ? ~UINT64_C(0) : B(hi) - 1;
    return top & ~(B(lo) - 1);
}

static uint64_t addr_mask(const struct vc_p2m_format_cfg *cfg, unsigned int level,
                          bool leaf)
{
    unsigned int lo = X86_GRANULE_SHIFT + (leaf ? level * X86_BITS_PER_LEVEL : 0);
    return bit_range(lo, cfg->oa_bits);
}

static int configure(struct vc_p2m_format_cfg *cfg)
{
    unsigned int ia, oa, shift;

    if (cfg->flags & ~(unsigned int)VC_FMT_F_NO_1G)
        return VC_EINVAL;
    if (cfg->levels != 0 && cfg->levels != X86_LEVELS)
        return VC_EINVAL; /* 5-level nested paging is not implemented here */
    if (cfg->granule_shift != 0 && cfg->granule_shift != X86_GRANULE_SHIFT)
        return VC_EINVAL;
    if (cfg->vmid != 0)
        return VC_EINVAL; /* the ASID lives in the VMCB, not in nCR3 */
    ia = cfg->ia_bits ? cfg->ia_bits : 48;
    if (ia < 32 || ia > 48)
        return VC_EINVAL;
    oa = cfg->oa_bits ? cfg->oa_bits : X86_MAX_OA;
    if (oa < 32 || oa > X86_MAX_OA)
        return VC_EINVAL;

    shift = X86_GRANULE_SHIFT + (X86_LEVELS - 1) * X86_BITS_PER_LEVEL; /* 39 */
    cfg->levels = X86_LEVELS;
    cfg->granule_shift = X86_GRANULE_SHIFT;
    cfg->ia_bits = ia;
    cfg->oa_bits = oa;
    cfg->bits_per_level = X86_BITS_PER_LEVEL;
    cfg->root_level = X86_LEVELS - 1;
    cfg->root_entries = ia > shift ? 1u << (ia - shift) : 1u;
    cfg->root_size = (size_t)1 << X86_GRANULE_SHIFT;
    cfg->vtcr = 0;
    return 0;
}

static bool leaf_ok(const struct vc_p2m_format_cfg *cfg, unsigned int level)
{
    /* 4 KiB PTEs, 2 MiB PDEs and 1 GiB PDPEs with PS=1 (APM vol 2 5.3.4,
     * 5.3.5); PS is reserved in a PML4E. */
    if (level > cfg->root_level)
        return false;
    if (level == 2)
        return !(cfg->flags & VC_FMT_F_NO_1G);
    return level <= 1;
}

/* PCD:PWT selecting the default PAT entries 0 (WB), 1 (WT) and 3 (UC);
 * WC and WP are not in the default PAT: written as UC (never more
 * cacheable than asked). */
static uint64_t cache_bits(enum vc_memtype mt)
{
    switch (mt) {
    case VC_MT_WB:
        return 0;
    case VC_MT_WT:
        return X86_PWT;
    case VC_MT_UC:
    case VC_MT_WC:
    case VC_MT_WP:
    case VC_MT_NR:
        break;
    }
    return X86_PCD | X86_PWT;
}

static uint64_t access_bits(unsigned int access)
{
    return ((access & 1u) ? X86_ACC0 : 0) | ((access & 2u) ? X86_ACC1 : 0) |
           ((access & 4u) ? X86_ACC2 : 0) | ((access & 8u) ? X86_ACC3 : 0);
}

static unsigned int access_of(uint64_t raw)
{
    return ((raw & X86_ACC0) ? 1u : 0) | ((raw & X86_ACC1) ? 2u : 0) |
           ((raw & X86_ACC2) ? 4u : 0) | ((raw & X86_ACC3) ? 8u : 0);
}

static uint64_t encode(const struct vc_p2m_format_cfg *cfg, unsigned int level,
                       const struct vc_pte *pte)
{
    uint64_t raw;
    unsigned int perms;

    switch (pte->kind) {
    case VC_PTE_TABLE:
        /* Rights are the AND over the walk: tables grant everything. */
        return (pte->addr & addr_mask(cfg, level, false)) | X86_P | X86_RW | X86_US;
    case VC_PTE_LEAF:
        break;
    default:
        return 0;
    }

    /* Present entries are always readable: without R nothing can be
     * expressed, and the leaf is written not present (perms 0). */
    perms = (pte->perms & VC_PERM_R) ? (pte->perms & VC_PERM_RWX) : 0;
    raw = (pte->addr & addr_mask(cfg, level, true)) | X86_US | cache_bits(pte->mt);
    if (perms & VC_PERM_R)
        raw |= X86_P;
    if (perms & VC_PERM_W)
        raw |= X86_RW;
    if (!(perms & VC_PERM_X))
        raw |= X86_NX;
    if (level >= 1)
        raw |= X86_PS;
    raw |= ((uint64_t)(pte->type & 0xfu) << X86_TYPE_SHIFT) | access_bits(pte->access);
    if (pte->sve)
        raw |= X86_SVE;
    return raw;
}

static int decode(const struct vc_p2m_format_cfg *cfg, unsigned int level, uint64_t raw,
                  struct vc_pte *pte)
{
    uint64_t v, amask;

    vc_memset(pte, 0, sizeof(*pte));
    if (raw == 0)
        return 0; /* VC_PTE_EMPTY */
    if (level > cfg->root_level)
        return VC_ECORRUPT;
    /* The walker sets A (and D in leaves) at any time (APM vol 2 5.4.2). */
    v = raw & ~X86_AD;
    if (v == 0)
        return VC_ECORRUPT; /* A/D are only set in a present entry */

    if (level >= 1 && !(v & X86_PS)) {
        /* Table entry: present, writable, user, address; nothing else. */
        amask = addr_mask(cfg, level, false);
        if (v != ((v & amask) | X86_P | X86_RW | X86_US))
            return VC_ECORRUPT;
        pte->kind = VC_PTE_TABLE;
        pte->addr = v & amask;
        return 0;
    }
    /* PAT is bit 7 of a PTE and bit 12 of a large page entry: never set.
     * PS in a PML4E is reserved (APM vol 2 5.3.3). */
    if (level == 0 ? (v & X86_PAT_4K) != 0
                   : (!leaf_ok(cfg, level) || (v & X86_PAT_LARGE)))
        return VC_ECORRUPT;

    amask = addr_mask(cfg, level, true);
    if ((v & ~(amask | X86_P | X86_RW | X86_US | X86_PWT | X86_PCD | X86_PS |
               X86_TYPE_MASK | X86_ACC_MASK | X86_SVE | X86_NX)) != 0)
        return VC_ECORRUPT; /* bit 11, 59-62, misaligned or too-high address */
    if (!(v & X86_US))
        return VC_ECORRUPT;
    /* default PAT index PCD:PWT: 0 WB, 1 WT, 2 UC- (read as UC), 3 UC */
    switch (v & (X86_PCD | X86_PWT)) {
    case 0:
        pte->mt = VC_MT_WB;
        break;
    case X86_PWT:
        pte->mt = VC_MT_WT;
        break;
    default:
        pte->mt = VC_MT_UC;
        break;
    }
    pte->type = (unsigned int)((v & X86_TYPE_MASK) >> X86_TYPE_SHIFT);
    if (v & X86_P) {
        pte->perms =
            VC_PERM_R | ((v & X86_RW) ? VC_PERM_W : 0) | ((v & X86_NX) ? 0 : VC_PERM_X);
    } else {
        /* Not present: written with perms 0, RW clear, NX set; recognised
         * as a leaf by its non-zero type. */
        if ((v & X86_RW) || !(v & X86_NX) || pte->type == 0)
            return VC_ECORRUPT;
        pte->perms = 0;
    }
    pte->kind = VC_PTE_LEAF;
    pte->addr = v & amask;
    pte->access = access_of(v);
    pte->sve = (v & X86_SVE) != 0;
    return 0;
}

static uint64_t hw_pointer(const struct vc_p2m_format_cfg *cfg, uint64_t root_pa)
{
    /* nCR3 (APM vol 2 15.25): the PML4 address, PWT = PCD = 0 (WB walks). */
    return root_pa & addr_mask(cfg, 0, false);
}

const struct vc_p2m_format vc_fmt_x86_64 = {
    .name = "x86-64",
    .id = VC_P2M_FMT_X86_64,
    .sw_fields = VC_FMT_SW_TYPE | VC_FMT_SW_ACCESS | VC_FMT_SW_SVE,
    .needs_bbm = false,
    .configure = configure,
    .leaf_ok = leaf_ok,
    .encode = encode,
    .decode = decode,
    .hw_pointer = hw_pointer,
    /* APM vol 2 5.3: P set and PS (bit 7) clear above the last level is a table */
    .walk_table_mask = UINT64_C(0x81),
    .walk_table_value = UINT64_C(0x01),
    .walk_addr_mask = UINT64_C(0x000ffffffffff000),
};
