/* SPDX-License-Identifier: MIT */
/*
 * ARM VMSAv8-64 stage 2 translation (EL1&0 regime, non-secure), 4 KiB,
 * 16 KiB and 64 KiB granules, 48-bit output addresses at most.
 *
 * References (ARM DDI 0487, "ARM ARM"): D8.3 (translation table descriptor
 * formats: table, block and page descriptors, stage 2 attribute fields),
 * D8.2 (translation process: granules, lookup levels, concatenated
 * translation tables at the initial lookup level), D8.6 (stage 2 memory
 * attributes, MemAttr with HCR_EL2.FWB == 0), D8.4 (stage 2 data and
 * instruction access permissions, S2AP and XN), and the register
 * descriptions of VTCR_EL2 and VTTBR_EL2.
 *
 * Descriptor layout used here (D8.3):
 *   bit 0      valid
 *   bit 1      1: table descriptor (ARM levels 0-2) or page descriptor
 *              (ARM level 3); 0: block descriptor
 *   bits 5:2   MemAttr[3:0]                        (leaves)
 *   bits 7:6   S2AP: bit 6 read, bit 7 write       (leaves)
 *   bits 9:8   SH (0b11 inner shareable)           (leaves)
 *   bit 10     AF (always 1: no access-flag faults, never changed by hw)
 *   bits 47:g  output address / next-level table address (g = granule shift)
 *   bit 54     XN[1] (XN[1:0] = 0b10: not executable at EL1 or EL0)
 *   bits 58:55 reserved for software use: the p2m type
 *   bits 62:59 PBHA (kept 0), bit 63 kept 0
 * Our level numbering counts from the leaf: ARM level 3 is our level 0.
 */
#include "internal/core.h"
#include "internal/p2m_formats.h"

#define B(n) (UINT64_C(1) << (n))

/* D8.3: descriptor type bits */
#define S2_VALID B(0)
#define S2_TABLE B(1) /* also "page" at ARM level 3 */
/* D8.3, stage 2 block and page descriptors: lower attributes */
#define S2_MEMATTR_SHIFT 2
#define S2_MEMATTR_MASK  (UINT64_C(0xf) << S2_MEMATTR_SHIFT)
#define S2_S2AP_R        B(6)
#define S2_S2AP_W        B(7)
#define S2_SH_IS         (UINT64_C(3) << 8)
#define S2_AF            B(10)
/* D8.3: upper attributes */
#define S2_XN         B(54) /* XN[1]; XN[0] (bit 53, FEAT_XNX) is left 0 */
#define S2_TYPE_SHIFT 55    /* bits 58:55: reserved for software use */
#define S2_TYPE_MASK  (UINT64_C(0xf) << S2_TYPE_SHIFT)

/* D8.6 stage 2 MemAttr[3:0] with HCR_EL2.FWB == 0: [3:2] outer (00 Device,
 * 01 Non-cacheable, 10 Write-Through, 11 Write-Back), [1:0] inner or the
 * Device type (01 nGnRE). */
#define S2_MA_DEVICE_nGnRE 0x1u
#define S2_MA_NORMAL_NC    0x5u
#define S2_MA_NORMAL_WT    0xau
#define S2_MA_NORMAL_WB    0xfu

/* VTCR_EL2 fields (ARM ARM register description of VTCR_EL2) */
#define VTCR_T0SZ_SHIFT 0                   /* bits 5:0: 64 - IPA bits */
#define VTCR_SL0_SHIFT  6                   /* bits 7:6: initial lookup level */
#define VTCR_IRGN0_WBWA (UINT64_C(1) << 8)  /* bits 9:8 = 0b01 */
#define VTCR_ORGN0_WBWA (UINT64_C(1) << 10) /* bits 11:10 = 0b01 */
#define VTCR_SH0_IS     (UINT64_C(3) << 12) /* bits 13:12 = 0b11 */
#define VTCR_TG0_SHIFT  14                  /* bits 15:14: 0b00 4K, 0b01 64K, 0b10 16K */
#define VTCR_PS_SHIFT   16    /* bits 18:16: PA size, same encoding as PARange */
#define VTCR_VS         B(19) /* 16-bit VMID (FEAT_VMID16) */
#define VTCR_RES1       B(31)

/* VTTBR_EL2: BADDR bits 47:1 (bit 0 CnP left 0), VMID bits 63:48. */
#define VTTBR_VMID_SHIFT 48

static uint64_t bit_range(unsigned int lo, unsigned int hi)
{
    uint64_t top = hi >= 64 ? ~UINT64_C(0) : B(hi) - 1;
    return top & ~(B(lo) - 1);
}

static unsigned int level_shift(const struct vc_p2m_format_cfg *cfg, unsigned int level)
{
    return cfg->granule_shift + level * cfg->bits_per_level;
}

static uint64_t addr_mask(const struct vc_p2m_format_cfg *cfg, unsigned int level,
                          bool leaf)
{
    return bit_range(leaf ? level_shift(cfg, level) : cfg->granule_shift, cfg->oa_bits);
}

/* VTCR_EL2.PS (and ID_AA64MMFR0_EL1.PARange) encodings: 0b000 32 bits,
 * 0b001 36, 0b010 40, 0b011 42, 0b100 44, 0b101 48 (0b110 52 unsupported). */
static int ps_of(unsigned int oa_bits)
{
    static const unsigned char sizes[] = {32, 36, 40, 42, 44, 48};

    for (unsigned int i = 0; i < VC_ARRAY_SIZE(sizes); i++)
        if (sizes[i] == oa_bits)
            return (int)i;
    return -1;
}

static int configure(struct vc_p2m_format_cfg *cfg)
{
    unsigned int gs, bpl, ia, oa, levels, root_level, arm_start, sl0, tg0, shift;
    uint64_t entries, root_size;
    int ps;

    if (cfg->flags & ~(unsigned int)VC_FMT_F_NO_1G)
        return VC_EINVAL;
    if (cfg->levels != 0)
        return VC_EINVAL; /* derived from ia_bits and the granule */
    gs = cfg->granule_shift ? cfg->granule_shift : 12;
    /* D8.2: 4K, 16K, 64K granules resolve 9, 11, 13 bits per level;
     * VTCR_EL2.TG0: 0b00 4K, 0b10 16K, 0b01 64K. */
    switch (gs) {
    case 12:
        bpl = 9;
        tg0 = 0;
        break;
    case 14:
        bpl = 11;
        tg0 = 2;
        break;
    case 16:
        bpl = 13;
        tg0 = 1;
        break;
    default:
        return VC_EINVAL;
    }
    ia = cfg->ia_bits ? cfg->ia_bits : 40;
    oa = cfg->oa_bits ? cfg->oa_bits : 40;
    ps = ps_of(oa);
    if (ia < 32 || ia > 52 || (ps < 0 && oa != 52))
        return VC_EINVAL;
    if (ia > 48 || oa == 52)
        return VC_ENOTSUP; /* 49..52-bit IPAs and PAs need FEAT_LPA/LPA2 */
    if (ia > oa)
        return VC_EINVAL; /* IPA wider than the PA size given in VTCR_EL2.PS */

    /* Start level as KVM picks it: the fewest levels such that the initial
     * level resolves at most bits_per_level + 4 bits (up to 16
     * concatenated tables, D8.2 "concatenated translation tables"), and at
     * least two levels. */
    levels = (ia - 4 - gs + bpl - 1) / bpl;
    if (levels < 2)
        levels = 2;
    root_level = levels - 1;
    shift = gs + root_level * bpl;
    entries = UINT64_C(1) << (ia - shift);
    root_size = entries * 8;
    if (root_size < (UINT64_C(1) << gs))
        root_size = UINT64_C(1) << gs;
    if (root_size > (UINT64_C(16) << gs))
        return VC_ENOTSUP; /* more than 16 concatenated tables (cannot happen) */

    /* VTCR_EL2.SL0: 4K: 0b00 ARM level 2, 0b01 level 1, 0b10 level 0;
     * 16K/64K: 0b00 level 3, 0b01 level 2, 0b10 level 1. ARM level =
     * 3 - our root level. */
    arm_start = 3 - root_level;
    if (gs == 12)
        sl0 = 2 - arm_start;
    else
        sl0 = 3 - arm_start;
    if (sl0 > 2)
        return VC_ENOTSUP; /* cannot happen for ia_bits <= 48 */

    cfg->granule_shift = gs;
    cfg->ia_bits = ia;
    cfg->oa_bits = oa;
    cfg->bits_per_level = bpl;
    cfg->root_level = root_level;
    cfg->root_entries = (unsigned int)entries;
    cfg->root_size = (size_t)root_size;
    cfg->vtcr = (uint64_t)(64 - ia) << VTCR_T0SZ_SHIFT | (uint64_t)sl0 << VTCR_SL0_SHIFT |
                VTCR_IRGN0_WBWA | VTCR_ORGN0_WBWA | VTCR_SH0_IS |
                (uint64_t)tg0 << VTCR_TG0_SHIFT | (uint64_t)ps << VTCR_PS_SHIFT |
                (cfg->vmid > 255 ? VTCR_VS : 0) | VTCR_RES1;
    return 0;
}

static bool leaf_ok(const struct vc_p2m_format_cfg *cfg, unsigned int level)
{
    /* D8.3: pages at ARM level 3; blocks at level 2 (2M/32M/512M) and, with
     * the 4K granule, level 1 (1G). Level-1 blocks with 16K/64K and level-0
     * blocks need 52-bit output addresses (FEAT_LPA/LPA2): not supported. */
    if (level > cfg->root_level)
        return false;
    if (level <= 1)
        return true;
    return level == 2 && cfg->granule_shift == 12 && !(cfg->flags & VC_FMT_F_NO_1G);
}

static unsigned int memattr_of(enum vc_memtype mt)
{
    switch (mt) {
    case VC_MT_WB:
        return S2_MA_NORMAL_WB;
    case VC_MT_WC:
        return S2_MA_NORMAL_NC;
    case VC_MT_WT:
        return S2_MA_NORMAL_WT;
    case VC_MT_UC:
    case VC_MT_WP: /* no write-protect type: the strongest one */
    case VC_MT_NR:
        break;
    }
    return S2_MA_DEVICE_nGnRE;
}

static bool mt_of(unsigned int memattr, enum vc_memtype *mt)
{
    switch (memattr) {
    case S2_MA_NORMAL_WB:
        *mt = VC_MT_WB;
        return true;
    case S2_MA_NORMAL_NC:
        *mt = VC_MT_WC;
        return true;
    case S2_MA_NORMAL_WT:
        *mt = VC_MT_WT;
        return true;
    case S2_MA_DEVICE_nGnRE:
        *mt = VC_MT_UC;
        return true;
    default:
        return false;
    }
}

static uint64_t encode(const struct vc_p2m_format_cfg *cfg, unsigned int level,
                       const struct vc_pte *pte)
{
    uint64_t raw;

    switch (pte->kind) {
    case VC_PTE_TABLE:
        /* D8.3 table descriptor: bits 1:0 = 0b11, next-level table address;
         * no hierarchical attributes in stage 2. */
        return (pte->addr & addr_mask(cfg, level, false)) | S2_VALID | S2_TABLE;
    case VC_PTE_LEAF:
        break;
    default:
        return 0;
    }

    /* Page (ARM level 3, bits 1:0 = 0b11) or block (bits 1:0 = 0b01). A
     * leaf without permissions stays a valid descriptor with S2AP = 00 and
     * XN set: every access faults but the descriptor keeps its fields. */
    raw = (pte->addr & addr_mask(cfg, level, true)) | S2_VALID;
    if (level == 0)
        raw |= S2_TABLE;
    raw |= (uint64_t)memattr_of(pte->mt) << S2_MEMATTR_SHIFT;
    raw |= ((pte->perms & VC_PERM_R) ? S2_S2AP_R : 0) |
           ((pte->perms & VC_PERM_W) ? S2_S2AP_W : 0);
    raw |= S2_SH_IS | S2_AF;
    if (!(pte->perms & VC_PERM_X))
        raw |= S2_XN;
    raw |= (uint64_t)(pte->type & 0xfu) << S2_TYPE_SHIFT;
    return raw;
}

static int decode(const struct vc_p2m_format_cfg *cfg, unsigned int level, uint64_t raw,
                  struct vc_pte *pte)
{
    uint64_t amask;

    vc_memset(pte, 0, sizeof(*pte));
    if (raw == 0)
        return 0; /* VC_PTE_EMPTY */
    if (level > cfg->root_level)
        return VC_ECORRUPT;
    if (!(raw & S2_VALID))
        return VC_ECORRUPT; /* the engine writes only valid descriptors */

    if (level >= 1 && (raw & S2_TABLE)) {
        amask = addr_mask(cfg, level, false);
        if ((raw & ~(amask | S2_VALID | S2_TABLE)) != 0)
            return VC_ECORRUPT;
        pte->kind = VC_PTE_TABLE;
        pte->addr = raw & amask;
        return 0;
    }
    /* Block at a level without blocks, or 0b01 at ARM level 3 (reserved,
     * D8.3). */
    if (level == 0 ? !(raw & S2_TABLE) : !leaf_ok(cfg, level))
        return VC_ECORRUPT;

    amask = addr_mask(cfg, level, true);
    if ((raw & ~(amask | S2_VALID | S2_TABLE | S2_MEMATTR_MASK | S2_S2AP_R | S2_S2AP_W |
                 S2_SH_IS | S2_AF | S2_XN | S2_TYPE_MASK)) != 0)
        return VC_ECORRUPT; /* FnXS, DBM, contiguous, XN[0], PBHA, bit 63,
                               misaligned or too-high address */
    if ((raw & S2_SH_IS) != S2_SH_IS || !(raw & S2_AF))
        return VC_ECORRUPT;
    if (!mt_of((unsigned int)((raw & S2_MEMATTR_MASK) >> S2_MEMATTR_SHIFT), &pte->mt))
        return VC_ECORRUPT;
    pte->kind = VC_PTE_LEAF;
    pte->addr = raw & amask;
    pte->perms = ((raw & S2_S2AP_R) ? VC_PERM_R : 0) |
                 ((raw & S2_S2AP_W) ? VC_PERM_W : 0) | ((raw & S2_XN) ? 0 : VC_PERM_X);
    pte->type = (unsigned int)((raw & S2_TYPE_MASK) >> S2_TYPE_SHIFT);
    return 0;
}

static uint64_t hw_pointer(const struct vc_p2m_format_cfg *cfg, uint64_t root_pa)
{
    /* VTTBR_EL2: BADDR (bits 47:1, aligned to the root size), VMID at 63:48
     * (bits 63:56 RES0 with 8-bit VMIDs). */
    return (root_pa & addr_mask(cfg, 0, false)) | (uint64_t)cfg->vmid << VTTBR_VMID_SHIFT;
}

const struct vc_p2m_format vc_fmt_arm_s2 = {
    .name = "arm-s2",
    .id = VC_P2M_FMT_ARM_S2,
    .sw_fields = VC_FMT_SW_TYPE,
    .needs_bbm = true,
    .configure = configure,
    .leaf_ok = leaf_ok,
    .encode = encode,
    .decode = decode,
    .hw_pointer = hw_pointer,
    /* ARM ARM D8.3: bits[1:0] = 0b11 above the last level is a table descriptor */
    .walk_table_mask = UINT64_C(0x3),
    .walk_table_value = UINT64_C(0x3),
    .walk_addr_mask = UINT64_C(0x0000fffffffff000),
};
