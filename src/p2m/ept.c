/* SPDX-License-Identifier: MIT */
/*
 * Intel EPT (extended page tables), 4 or 5 levels, 4 KiB granule.
 *
 * References: Intel SDM vol 3C 29.3.2 (EPT translation mechanism: the
 * formats of the EPT paging-structure entries), 29.3.3
 * (EPT-induced VM exits: misconfigurations), 29.3.7.2 (EPT memory type)
 * and 24.6.11 (extended-page-table pointer, EPTP).
 *
 * Entry layout used here (SDM 29.3.2, the tables of entry formats):
 *   bit 0      R: read access
 *   bit 1      W: write access
 *   bit 2      X: execute access (supervisor-mode execute with MBEC)
 *   bits 5:3   EPT memory type (leaves only; 29.3.7.2: 0 UC, 1 WC, 4 WT,
 *              5 WP, 6 WB; 2, 3, 7 are reserved -> misconfiguration 29.3.3.1)
 *   bit 6      ignore PAT (leaves only)
 *   bit 7      maps a page (PDPTE: 1 GiB, PDE: 2 MiB); reserved in a
 *              PML5E/PML4E; ignored in a PTE (never written there)
 *   bit 8      accessed, bit 9 dirty (set by the CPU when EPTP bit 6 is 1)
 *   bits 51:12 physical address (of the next table or the page)
 *   bit 63     suppress #VE (leaves; ignored unless "EPT-violation #VE")
 * Bits claimed by newer features and left alone: 10 (MBEC user-execute),
 * 57 (verify guest paging), 60 (supervisor shadow stack), 61 (sub-page
 * write permissions). Software fields live in ignored bits:
 *   bits 55:52 p2m type; access bit 0 -> 56, bit 1 -> 62, bit 2 -> 59,
 *   bit 3 -> 11.
 * Bit 58 ("paging-write access" under the EPT paging-write control,
 * 29.3.3.2) is avoided too, so a hypervisor may enable that control.
 */
#include "internal/core.h"
#include "internal/p2m_formats.h"

#define B(n) (UINT64_C(1) << (n))

/* SDM 29.3.2 */
#define EPT_R        B(0)
#define EPT_W        B(1)
#define EPT_X        B(2)
#define EPT_RWX      (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT 3
#define EPT_MT_MASK  (UINT64_C(7) << EPT_MT_SHIFT)
#define EPT_IPAT     B(6)
#define EPT_SIZE     B(7)
#define EPT_A        B(8)
#define EPT_D        B(9)
#define EPT_AD       (EPT_A | EPT_D)
#define EPT_SVE      B(63)

/* Software fields (bits the CPU ignores, SDM 29.3.2). */
#define EPT_TYPE_SHIFT 52
#define EPT_TYPE_MASK  (UINT64_C(0xf) << EPT_TYPE_SHIFT)
#define EPT_ACC0       B(56)
#define EPT_ACC1       B(62)
#define EPT_ACC2       B(59)
#define EPT_ACC3       B(11)
#define EPT_ACC_MASK   (EPT_ACC0 | EPT_ACC1 | EPT_ACC2 | EPT_ACC3)

/* EPT memory types (SDM 29.3.7.2; same encodings as the MTRR types). */
#define EPT_EMT_UC 0u
#define EPT_EMT_WC 1u
#define EPT_EMT_WT 4u
#define EPT_EMT_WP 5u
#define EPT_EMT_WB 6u

/* EPTP (SDM 24.6.11) */
#define EPTP_MT_WB     UINT64_C(6) /* bits 2:0: paging-structure memory type WB */
#define EPTP_PWL_SHIFT 3           /* bits 5:3: page-walk length minus 1 */
#define EPTP_AD        B(6)        /* bit 6: enable accessed/dirty flags */

#define EPT_GRANULE_SHIFT  12
#define EPT_BITS_PER_LEVEL 9
#define EPT_MAX_OA         52 /* address field is bits 51:12 */

/* Bits [hi-1:lo]. */
static uint64_t bit_range(unsigned int lo, unsigned int hi)
{
    uint64_t top = hi >= 64 ? ~UINT64_C(0) : B(hi) - 1;
    return top & ~(B(lo) - 1);
}

static unsigned int level_shift(unsigned int level)
{
    return EPT_GRANULE_SHIFT + level * EPT_BITS_PER_LEVEL;
}

/* The address field of an entry at @level: table or page frame. */
static uint64_t addr_mask(const struct vc_p2m_format_cfg *cfg, unsigned int level,
                          bool leaf)
{
    return bit_range(leaf ? level_shift(level) : EPT_GRANULE_SHIFT, cfg->oa_bits);
}

static int configure(struct vc_p2m_format_cfg *cfg)
{
    unsigned int levels, ia, oa, root_level, shift;

    if (cfg->flags & ~(unsigned int)VC_FMT_F_ALL)
        return VC_EINVAL;
    /* 4-level or 5-level EPT (SDM 29.3.2; EPTP bits 5:3, 24.6.11) */
    levels = cfg->levels ? cfg->levels : 4;
    if (levels != 4 && levels != 5)
        return VC_EINVAL;
    if (cfg->granule_shift != 0 && cfg->granule_shift != EPT_GRANULE_SHIFT)
        return VC_EINVAL;
    if (cfg->vmid != 0)
        return VC_EINVAL;
    /* 4-level EPT translates 48-bit, 5-level 57-bit guest-physical addresses */
    ia = cfg->ia_bits ? cfg->ia_bits : (levels == 4 ? 48 : 57);
    if (ia < 32 || ia > (levels == 4 ? 48u : 57u))
        return VC_EINVAL;
    oa = cfg->oa_bits ? cfg->oa_bits : EPT_MAX_OA;
    if (oa < 32 || oa > EPT_MAX_OA)
        return VC_EINVAL;

    root_level = levels - 1;
    shift = level_shift(root_level);
    cfg->levels = levels;
    cfg->granule_shift = EPT_GRANULE_SHIFT;
    cfg->ia_bits = ia;
    cfg->oa_bits = oa;
    cfg->bits_per_level = EPT_BITS_PER_LEVEL;
    cfg->root_level = root_level;
    cfg->root_entries = ia > shift ? 1u << (ia - shift) : 1u;
    cfg->root_size = (size_t)1 << EPT_GRANULE_SHIFT;
    cfg->vtcr = 0;
    return 0;
}

static bool leaf_ok(const struct vc_p2m_format_cfg *cfg, unsigned int level)
{
    /* 4 KiB pages, 2 MiB pages (PDE bit 7), 1 GiB pages (PDPTE bit 7):
     * SDM 29.3.2. */
    if (level > cfg->root_level)
        return false;
    if (level == 2)
        return !(cfg->flags & VC_FMT_F_NO_1G);
    return level <= 1;
}

static unsigned int emt_of(enum vc_memtype mt)
{
    switch (mt) {
    case VC_MT_WB:
        return EPT_EMT_WB;
    case VC_MT_WC:
        return EPT_EMT_WC;
    case VC_MT_WT:
        return EPT_EMT_WT;
    case VC_MT_WP:
        return EPT_EMT_WP;
    case VC_MT_UC:
    case VC_MT_NR:
        break;
    }
    return EPT_EMT_UC;
}

/* Returns false for the reserved encodings 2, 3 and 7 (SDM 29.3.3.1). */
static bool mt_of(unsigned int emt, enum vc_memtype *mt)
{
    switch (emt) {
    case EPT_EMT_UC:
        *mt = VC_MT_UC;
        return true;
    case EPT_EMT_WC:
        *mt = VC_MT_WC;
        return true;
    case EPT_EMT_WT:
        *mt = VC_MT_WT;
        return true;
    case EPT_EMT_WP:
        *mt = VC_MT_WP;
        return true;
    case EPT_EMT_WB:
        *mt = VC_MT_WB;
        return true;
    default:
        return false;
    }
}

static uint64_t access_bits(unsigned int access)
{
    return ((access & 1u) ? EPT_ACC0 : 0) | ((access & 2u) ? EPT_ACC1 : 0) |
           ((access & 4u) ? EPT_ACC2 : 0) | ((access & 8u) ? EPT_ACC3 : 0);
}

static unsigned int access_of(uint64_t raw)
{
    return ((raw & EPT_ACC0) ? 1u : 0) | ((raw & EPT_ACC1) ? 2u : 0) |
           ((raw & EPT_ACC2) ? 4u : 0) | ((raw & EPT_ACC3) ? 8u : 0);
}

/* The permissions an EPT leaf can hold: write without read is a
 * misconfiguration (SDM 29.3.3.1); execute without read needs the
 * execute-only capability (IA32_VMX_EPT_VPID_CAP bit 0, SDM A.10). */
static unsigned int expressible(const struct vc_p2m_format_cfg *cfg, unsigned int perms)
{
    perms &= VC_PERM_RWX;
    if (!(perms & VC_PERM_R)) {
        perms &= ~(unsigned int)VC_PERM_W;
        if (cfg->flags & VC_FMT_F_NO_EXEC_ONLY)
            perms &= ~(unsigned int)VC_PERM_X;
    }
    return perms;
}

static uint64_t encode(const struct vc_p2m_format_cfg *cfg, unsigned int level,
                       const struct vc_pte *pte)
{
    uint64_t raw;
    unsigned int perms;

    switch (pte->kind) {
    case VC_PTE_TABLE:
        /* Non-leaf entries grant everything; the leaf decides (29.3.2). */
        return (pte->addr & addr_mask(cfg, level, false)) | EPT_RWX;
    case VC_PTE_LEAF:
        break;
    default:
        return 0;
    }

    perms = expressible(cfg, pte->perms);
    raw = (pte->addr & addr_mask(cfg, level, true));
    raw |= ((perms & VC_PERM_R) ? EPT_R : 0) | ((perms & VC_PERM_W) ? EPT_W : 0) |
           ((perms & VC_PERM_X) ? EPT_X : 0);
    /* The p2m owns the memory type: EPT type with PAT ignored (29.3.7.2). */
    raw |= (uint64_t)emt_of(pte->mt) << EPT_MT_SHIFT | EPT_IPAT;
    if (level >= 1)
        raw |= EPT_SIZE;
    raw |= ((uint64_t)(pte->type & 0xfu) << EPT_TYPE_SHIFT) | access_bits(pte->access);
    if (pte->sve)
        raw |= EPT_SVE;
    return raw;
}

static int decode(const struct vc_p2m_format_cfg *cfg, unsigned int level, uint64_t raw,
                  struct vc_pte *pte)
{
    uint64_t v, amask;
    unsigned int perms;

    vc_memset(pte, 0, sizeof(*pte));
    if (raw == 0)
        return 0; /* VC_PTE_EMPTY */
    if (level > cfg->root_level)
        return VC_ECORRUPT;
    /* The CPU sets A/D at any time (SDM 29.3.5): ignore them. */
    v = raw & ~EPT_AD;
    if (v == 0)
        return VC_ECORRUPT; /* the CPU only sets A/D in a used entry */

    if (level >= 1 && !(v & EPT_SIZE)) {
        /* Table entry: address and R|W|X, nothing else. */
        amask = addr_mask(cfg, level, false);
        if ((v & ~(amask | EPT_RWX)) != 0)
            return VC_ECORRUPT; /* reserved, software or high address bits */
        if ((v & EPT_RWX) != EPT_RWX)
            return VC_ECORRUPT;
        pte->kind = VC_PTE_TABLE;
        pte->addr = v & amask;
        return 0;
    }

    /* Leaf. Bit 7 in a PTE is ignored by the CPU but never written; in a
     * PML4E/PML5E it is reserved (SDM 29.3.2). */
    if (level == 0 ? (v & EPT_SIZE) != 0 : !leaf_ok(cfg, level))
        return VC_ECORRUPT;
    amask = addr_mask(cfg, level, true);
    if ((v & ~(amask | EPT_RWX | EPT_MT_MASK | EPT_IPAT | EPT_SIZE | EPT_TYPE_MASK |
               EPT_ACC_MASK | EPT_SVE)) != 0)
        return VC_ECORRUPT; /* bits 10/57/60-62, misaligned or too-high address */
    if ((v & (EPT_R | EPT_W)) == EPT_W)
        return VC_ECORRUPT; /* write without read: misconfiguration (29.3.3.1) */
    if ((cfg->flags & VC_FMT_F_NO_EXEC_ONLY) && (v & (EPT_R | EPT_X)) == EPT_X)
        return VC_ECORRUPT; /* execute-only unsupported: misconfiguration */
    if (!(v & EPT_IPAT))
        return VC_ECORRUPT; /* every leaf is written with ignore-PAT */
    if (!mt_of((unsigned int)((v & EPT_MT_MASK) >> EPT_MT_SHIFT), &pte->mt))
        return VC_ECORRUPT; /* memory type 2, 3 or 7 (29.3.3.1) */
    perms = ((v & EPT_R) ? VC_PERM_R : 0) | ((v & EPT_W) ? VC_PERM_W : 0) |
            ((v & EPT_X) ? VC_PERM_X : 0);
    pte->type = (unsigned int)((v & EPT_TYPE_MASK) >> EPT_TYPE_SHIFT);
    if (perms == 0 && pte->type == 0)
        return VC_ECORRUPT; /* a not-present leaf is recognised by its type */
    pte->kind = VC_PTE_LEAF;
    pte->addr = v & amask;
    pte->perms = perms;
    pte->access = access_of(v);
    pte->sve = (v & EPT_SVE) != 0;
    return 0;
}

static uint64_t hw_pointer(const struct vc_p2m_format_cfg *cfg, uint64_t root_pa)
{
    /* EPTP, SDM 24.6.11: bits 2:0 memory type, 5:3 walk length - 1,
     * bit 6 A/D enable, bits N-1:12 the root table. */
    uint64_t eptp = (root_pa & addr_mask(cfg, 0, false)) | EPTP_MT_WB |
                    (uint64_t)(cfg->root_level) << EPTP_PWL_SHIFT;
    if (cfg->flags & VC_FMT_F_EPT_AD)
        eptp |= EPTP_AD;
    return eptp;
}

const struct vc_p2m_format vc_fmt_ept = {
    .name = "ept",
    .id = VC_P2M_FMT_EPT,
    .sw_fields = VC_FMT_SW_TYPE | VC_FMT_SW_ACCESS | VC_FMT_SW_SVE,
    .needs_bbm = false,
    .configure = configure,
    .leaf_ok = leaf_ok,
    .encode = encode,
    .decode = decode,
    .hw_pointer = hw_pointer,
    /* SDM 29.3.2: a non-leaf entry has R, W, X set (the engine writes 7) and bit 7 clear */
    .walk_table_mask = UINT64_C(0x87),
    .walk_table_value = UINT64_C(0x07),
    .walk_addr_mask = UINT64_C(0x000ffffffffff000),
};
