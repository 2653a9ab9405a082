/* SPDX-License-Identifier: MIT */
/**
 * @file p2m_format.h
 * @brief Hardware page-table formats for the p2m engine.
 */
#ifndef VIRTCORE_P2M_FORMAT_H
#define VIRTCORE_P2M_FORMAT_H

#include <virtcore/types.h>

VC_BEGIN_DECLS

/**
 * @defgroup p2m_format p2m formats
 * @brief How one hardware page-table format encodes entries.
 *
 * The engine (p2m.h) is format-agnostic: it walks and edits a radix tree and
 * asks the format to encode and decode single entries. Levels are counted
 * from the leaf: level 0 entries map one granule (4 KiB with the 4K
 * granule), level l entries map 2^(granule_shift + l * bits_per_level)
 * bytes. (ARM numbers its levels from the root: with the 4K granule ARM
 * level 3 is our level 0, ARM level 1 our level 2.)
 *
 * A format object is a `static const struct vc_p2m_format` selected by
 * `enum vc_p2m_format_id`; a format instance is described by a
 * `struct vc_p2m_format_cfg` that the format's configure() fills in
 * (levels, root size, hardware register values), io-pgtable style.
 * @{
 */

/** Built-in formats. */
enum vc_p2m_format_id {
    VC_P2M_FMT_EPT = 1,    /**< Intel EPT, 4 or 5 levels (SDM vol 3C 29.3) */
    VC_P2M_FMT_ARM_S2 = 2, /**< ARM VMSAv8-64 stage 2 (ARM ARM D8) */
    VC_P2M_FMT_X86_64 = 3, /**< x86-64 long mode / AMD NPT, 4 levels (APM vol 2 5.3, 15.25) */
};

/** Hardware permission bits, format-neutral. */
enum vc_perm {
    VC_PERM_NONE = 0,
    VC_PERM_R = 1, /**< read */
    VC_PERM_W = 2, /**< write */
    VC_PERM_X = 4, /**< execute (instruction fetch) */
    VC_PERM_RWX = 7,
};

/** Memory types, format-neutral. Each format maps them to its encoding. */
enum vc_memtype {
    VC_MT_WB = 0,     /**< normal write-back (RAM) */
    VC_MT_UC = 1,     /**< uncacheable / ARM Device-nGnRE (MMIO) */
    VC_MT_WC = 2,     /**< write-combining / ARM Normal non-cacheable */
    VC_MT_WT = 3,     /**< write-through */
    VC_MT_WP = 4,     /**< write-protected (x86 only) */
    VC_MT_NR = 5,
};

/** What an entry is. */
enum vc_pte_kind {
    VC_PTE_EMPTY = 0, /**< nothing mapped (all-zero entry) */
    VC_PTE_TABLE = 1, /**< points to a next-level table */
    VC_PTE_LEAF = 2,  /**< maps a page or block (possibly with no permissions) */
};

/**
 * A decoded entry. A leaf with perms == 0 is still a mapping: the frame,
 * type and access are kept in the entry (where hardware ignores them) so
 * that an access-restricted page remembers what it maps.
 */
struct vc_pte {
    enum vc_pte_kind kind; /**< empty, table or leaf */
    uint64_t addr;         /**< table: physical address of the next table;
                                leaf: output address of the page or block */
    unsigned int perms;    /**< leaf: hardware permissions (enum vc_perm) */
    enum vc_memtype mt;    /**< leaf: memory type */
    unsigned int type;     /**< leaf: p2m type (0..15), if the format has the bits */
    unsigned int access;   /**< leaf: p2m access (0..15), if the format has the bits */
    bool sve;              /**< leaf: suppress \#VE, if the format has the bit */
};

/** Which software fields a format stores in the entry itself. The engine
 *  keeps the others in a side array per table. */
enum vc_fmt_sw {
    VC_FMT_SW_TYPE = 1u << 0,   /**< p2m type (4 bits) */
    VC_FMT_SW_ACCESS = 1u << 1, /**< p2m access (4 bits) */
    VC_FMT_SW_SVE = 1u << 2,    /**< suppress-\#VE (1 bit) */
};

/** Format instance flags (input to configure()). */
enum vc_fmt_flags {
    VC_FMT_F_EPT_AD = 1u << 0,        /**< EPT: enable accessed/dirty flags in the EPTP */
    VC_FMT_F_NO_EXEC_ONLY = 1u << 1,  /**< EPT: CPU lacks execute-only; x without r is dropped */
    VC_FMT_F_NO_1G = 1u << 2,         /**< no 1 GiB (level 2) leaves */
    VC_FMT_F_ALL = (1u << 3) - 1,     /**< every defined flag */
};

/** Configuration of one format instance: input and output of configure(). */
struct vc_p2m_format_cfg {
    /* in */
    unsigned int ia_bits;      /**< input (guest-physical) address bits */
    unsigned int oa_bits;      /**< output (host-physical) address bits */
    unsigned int levels;       /**< EPT: 4 or 5 (0: 4); others: 0 */
    unsigned int granule_shift;/**< ARM: 12, 14 or 16 (0: 12); others: 0 or 12 */
    uint16_t vmid;             /**< ARM: VMID for VTTBR_EL2 */
    unsigned int flags;        /**< enum vc_fmt_flags */
    /* out */
    unsigned int bits_per_level; /**< index bits per table (9, 11, 13) */
    unsigned int root_level;   /**< level of the root table's entries */
    unsigned int root_entries; /**< entries in the root (more than one table when
                                    concatenated, fewer when the IPA is narrow) */
    size_t root_size;          /**< bytes of the root allocation (alignment = size) */
    uint64_t vtcr;             /**< ARM: VTCR_EL2 value (T0SZ, SL0, TG0, SH0, ORGN0, IRGN0, PS) */
};

/** A hardware page-table format. */
struct vc_p2m_format {
    const char *name;          /**< "ept", "arm-s2", "x86-64" */
    enum vc_p2m_format_id id;  /**< its id */
    unsigned int sw_fields;    /**< enum vc_fmt_sw: fields the entry stores */
    bool needs_bbm;            /**< changing a valid entry's output or size needs
                                    break-before-make (ARM) */
    /**
     * Validate the input fields of @p cfg and fill in the output fields.
     * @return 0, #VC_EINVAL or #VC_ENOTSUP for an unsupported combination
     */
    int (*configure)(struct vc_p2m_format_cfg *cfg);
    /** Whether a leaf may sit at @p level. */
    bool (*leaf_ok)(const struct vc_p2m_format_cfg *cfg, unsigned int level);
    /**
     * Encode an entry at @p level. Permissions the format cannot express
     * are dropped (never added): the result is at most as permissive as
     * asked. @return the raw entry (0 for VC_PTE_EMPTY)
     */
    uint64_t (*encode)(const struct vc_p2m_format_cfg *cfg, unsigned int level,
                       const struct vc_pte *pte);
    /**
     * Decode a raw entry at @p level.
     * @return 0, or #VC_ECORRUPT for an encoding the engine never writes
     *         (reserved bits set, a block at an illegal level, ...)
     */
    int (*decode)(const struct vc_p2m_format_cfg *cfg, unsigned int level, uint64_t raw,
                  struct vc_pte *pte);
    /** The hardware root pointer (EPTP, VTTBR_EL2, nCR3) for a root at @p root_pa. */
    uint64_t (*hw_pointer)(const struct vc_p2m_format_cfg *cfg, uint64_t root_pa);
    /**
     * Fast-walk descriptor (optional; 0 disables): an entry above level 0
     * is a table entry exactly when (raw & walk_table_mask) ==
     * walk_table_value, and then (raw & walk_addr_mask) is the next table's
     * physical address. Lookups use it to descend without calling decode();
     * the leaf is still decoded. vc_p2m_lookup() checks every table pointer
     * against the engine's bookkeeping; vc_p2m_lookup_unlocked() with a host
     * direct map follows it as hardware does (vc_p2m_audit() checks that
     * the descriptor agrees with decode() on every entry). A format that sets it also promises that
     * leaves store their address unmodified in (raw & walk_addr_mask), so
     * encode(addr + d) == encode(addr) + d for a leaf-aligned d: the engine
     * then fills runs of empty entries without calling encode() per entry.
     */
    uint64_t walk_table_mask;
    uint64_t walk_table_value; /**< see walk_table_mask */
    uint64_t walk_addr_mask;   /**< see walk_table_mask */
};

/**
 * @brief The built-in format with a given id.
 * @param id a format id
 * @return the format, or NULL for an unknown id
 */
VC_API const struct vc_p2m_format *vc_p2m_format_get(enum vc_p2m_format_id id);

/** @} */

VC_END_DECLS

#endif /* VIRTCORE_P2M_FORMAT_H */
