/* SPDX-License-Identifier: MIT */
/**
 * @file p2m.h
 * @brief Second-stage page-table engine (guest-physical to machine).
 */
#ifndef VIRTCORE_P2M_H
#define VIRTCORE_P2M_H

#include <virtcore/flush.h>
#include <virtcore/host.h>
#include <virtcore/p2m_format.h>
#include <virtcore/types.h>

VC_BEGIN_DECLS

/**
 * @defgroup p2m p2m
 * @brief A second-stage page table with p2m types, access rights,
 * superpages, split/merge, walkers, audit and exact flush reporting.
 *
 * **Model.** Each guest frame is either unmapped, or mapped to a machine
 * frame with a p2m *type* (what the memory is) and an *access* (what an
 * introspection agent allows). The hardware permissions of an entry are the
 * effective rights: type rights AND access rights (vc_p2m_rights()), as far
 * as the format can express them (never more).
 *
 * **Superpages.** Range operations choose the largest leaf the format
 * allows where the range, the frame alignment and the attributes permit;
 * a partial change splits a superpage; a table that becomes uniform and
 * contiguous is merged back into a superpage; a table that becomes empty
 * is freed.
 *
 * **Flushes.** Every changing operation takes a `struct vc_flush` and adds
 * to it: ADDED when only empty entries were filled, MODIFIED when a mapping
 * changed or went away, STRUCTURAL when tables were split, merged or freed.
 * Freed tables go on its deferred-free list: the caller performs the
 * invalidation it describes (on every CPU and device that may cache this
 * p2m) and then calls vc_flush_complete(), which returns them to the host.
 *
 * **Failure safety.** An operation allocates every table it may need before
 * it changes any entry. On #VC_ENOMEM or an argument error the tables are
 * exactly as before and the flush request is untouched. (#VC_ECORRUPT, table
 * memory changed behind the engine's back, may stop an operation part-way;
 * the flush then covers what was changed, and vc_p2m_audit() reports the
 * damage.)
 *
 * **Locking.** If the host supplies locks, every changing operation takes
 * the p2m's lock (class #VC_LOCK_P2M) and vc_p2m_lookup() takes it too.
 * Without host locks the caller serialises all calls. Entries are written
 * with single atomic stores, so a hardware walker (or
 * vc_p2m_lookup_unlocked()) never sees a torn entry; on formats that need
 * break-before-make (ARM), a valid entry whose output or size changes is
 * first invalidated, the config's bbm_flush() is called, and only then is
 * the new entry written; a valid entry that becomes empty is invalidated
 * through bbm_flush() at once, so a later mapping there (even under the
 * same pending vc_flush) never meets a stale translation. Rewriting an
 * entry drops the accessed/dirty bits hardware set in it.
 * @{
 */

/** p2m types: what a guest frame is. Stored in 4 bits. */
enum vc_p2m_type {
    VC_P2M_INVALID = 0,      /**< not mapped */
    VC_P2M_RAM_RW = 1,       /**< guest RAM: rwx */
    VC_P2M_RAM_RO = 2,       /**< read-only RAM: rx, writes fault */
    VC_P2M_RAM_LOGDIRTY = 3, /**< RAM under dirty logging: rx until the first write */
    VC_P2M_MMIO_DIRECT = 4,  /**< passed-through device memory: rw, uncached */
    VC_P2M_MMIO_DM = 5,      /**< emulated MMIO: no rights, every access exits */
    VC_P2M_GRANT_RW = 6,     /**< another domain's page, writable: rw */
    VC_P2M_GRANT_RO = 7,     /**< another domain's page, read-only: r */
    VC_P2M_RAM_SHARED = 8,   /**< copy-on-write shared RAM: rx */
    VC_P2M_NR_TYPES = 9
};

/** Access rights set by an introspection agent. Stored in 4 bits. */
enum vc_p2m_access {
    VC_ACCESS_N = 0,     /**< no access */
    VC_ACCESS_R = 1,     /**< read */
    VC_ACCESS_W = 2,     /**< write */
    VC_ACCESS_RW = 3,    /**< read, write */
    VC_ACCESS_X = 4,     /**< execute */
    VC_ACCESS_RX = 5,    /**< read, execute */
    VC_ACCESS_WX = 6,    /**< write, execute */
    VC_ACCESS_RWX = 7,   /**< everything */
    VC_ACCESS_RX2RW = 8, /**< rx; the first write violation converts it to rw */
    VC_ACCESS_N2RWX = 9, /**< none; the first violation converts it to rwx */
    VC_ACCESS_NR = 10
};

/** Flags of vc_p2m_config. */
enum vc_p2m_flags {
    VC_P2M_F_NO_MERGE = 1u << 0, /**< never merge tables back into superpages */
    VC_P2M_F_ALL = (1u << 1) - 1
};

/** Creation parameters. */
struct vc_p2m_config {
    enum vc_p2m_format_id format; /**< hardware format (ignored with custom_format) */
    /** A format of the embedder's own (an IOMMU's, say), or NULL for a built-in
     *  one. It must store the type in the entry (VC_FMT_SW_TYPE) and outlive
     *  the p2m. */
    const struct vc_p2m_format *custom_format;
    /** Format instance: ia_bits, oa_bits, levels, granule_shift, vmid, flags
     *  (the output fields are filled in and readable via vc_p2m_format_cfg()). */
    struct vc_p2m_format_cfg fmt;
    unsigned int max_order;  /**< largest leaf order to use (0: the format's largest) */
    unsigned int flags;      /**< enum vc_p2m_flags */
    /**
     * Break-before-make: invalidate every cached translation of
     * [gfn, gfn + 2^order) for this p2m and wait for completion. Required
     * (non-NULL) for formats with needs_bbm; called with the p2m lock held.
     */
    void (*bbm_flush)(void *arg, vc_gfn_t gfn, unsigned int order);
    void *bbm_arg;           /**< first argument of bbm_flush */
};

/** The result of a lookup. */
struct vc_p2m_entry {
    vc_mfn_t mfn;                /**< machine frame of the looked-up gfn (not the block base) */
    enum vc_p2m_type type;       /**< VC_P2M_INVALID when unmapped */
    enum vc_p2m_access access;   /**< access rights */
    unsigned int order;          /**< log2 frames of the leaf that maps it */
    unsigned int rights;         /**< effective rights: type AND access (enum vc_perm) */
    unsigned int hw_perms;       /**< the permissions actually encoded (<= rights) */
    enum vc_memtype mt;          /**< memory type */
    bool sve;                    /**< suppress \#VE */
};

/** A change of mappings, as reported to the observer. */
struct vc_p2m_change {
    vc_gfn_t gfn;                /**< first frame */
    uint64_t nr;                 /**< number of frames (a whole leaf or table span) */
    bool was_mapped;             /**< the range held mappings before */
    /** The new mapping of gfn (type VC_P2M_INVALID if removed); frames
     *  gfn + i map mfn + i. */
    vc_mfn_t mfn;
    enum vc_p2m_type type;       /**< new type */
    enum vc_p2m_access access;   /**< new access */
    bool sve;                    /**< new suppress-\#VE */
};

/**
 * Observer of mapping changes (altp2m, IOMMU sharing). Called with the p2m
 * lock held, after the entries changed, once per changed leaf, run of new
 * contiguous leaves or removed table span; never for splits and merges
 * (they change no translation).
 * It must not call back into this p2m.
 */
typedef void (*vc_p2m_observer_fn)(void *arg, const struct vc_p2m_change *change);

/** What a walker visitor sees. */
enum vc_p2m_visit_kind {
    VC_VISIT_LEAF = 1u << 0,       /**< a leaf entry (mapped, possibly with no rights) */
    VC_VISIT_TABLE_PRE = 1u << 1,  /**< a table entry, before its children */
    VC_VISIT_TABLE_POST = 1u << 2, /**< a table entry, after its children */
    VC_VISIT_EMPTY = 1u << 3,      /**< an empty entry */
};

/** The context given to a visitor. */
struct vc_p2m_visit {
    enum vc_p2m_visit_kind kind; /**< which visit this is */
    vc_gfn_t gfn;                /**< first frame the entry maps */
    unsigned int level;          /**< level of the entry (0 = smallest pages) */
    unsigned int order;          /**< log2 frames the entry spans */
    uint64_t raw;                /**< the raw entry */
    struct vc_pte pte;           /**< the decoded entry */
    /** For leaves: the full p2m view (type/access from wherever stored). */
    struct vc_p2m_entry entry;
};

/** A read-only walk over a range: KVM-style visitor with flags. */
struct vc_p2m_walker {
    /** Visitor; a non-zero return stops the walk and is returned by vc_p2m_walk(). */
    int (*cb)(const struct vc_p2m_visit *visit, void *arg);
    void *arg;          /**< passed to cb */
    unsigned int flags; /**< enum vc_p2m_visit_kind: the visits wanted */
};

/** Table counts, for tools and benchmarks. */
struct vc_p2m_stats {
    uint64_t tables[6];     /**< tables whose entries are at each level */
    uint64_t leaves[6];     /**< leaf entries at each level */
    uint64_t table_bytes;   /**< memory in tables (and side arrays) */
    uint64_t mapped_frames; /**< frames mapped */
};

/** Opaque p2m object. */
struct vc_p2m;

/**
 * @brief Create an empty p2m.
 * @param host host ops (pt_alloc for tables, alloc for bookkeeping)
 * @param cfg parameters (copied)
 * @param[out] out the new p2m
 * @return 0; #VC_EINVAL for a bad host, unknown format, an incomplete custom
 *         format, unknown flags, a max_order below one granule, or a missing
 *         bbm_flush on a BBM format; #VC_ENOTSUP for a format without a type
 *         field; the format's configure() error; #VC_ENOMEM
 */
VC_API int vc_p2m_create(const struct vc_host *host, const struct vc_p2m_config *cfg,
                         struct vc_p2m **out);

/**
 * @brief Destroy a p2m and free all its tables at once.
 *
 * The caller guarantees that no hardware walker can use the tables any
 * more (the p2m is no longer loaded anywhere and was flushed). Flushes
 * still holding tables of this p2m on their deferred lists may be completed
 * after destroy: those tables carry their own reference to the host.
 *
 * @param p2m the p2m, or NULL
 */
VC_API void vc_p2m_destroy(struct vc_p2m *p2m);

/**
 * @brief Map [gfn, gfn + nr) to [mfn, mfn + nr) with a type and access.
 *
 * Replaces whatever was mapped. Leaves are as large as alignment of both
 * gfn and mfn, the range and max_order allow. New mappings have
 * suppress-\#VE set (the default: no \#VE until an agent clears it with
 * vc_p2m_set_suppress_ve()). The memory type follows the type:
 * uncacheable for VC_P2M_MMIO_DIRECT, write-back otherwise.
 *
 * @param p2m the p2m
 * @param gfn first guest frame
 * @param mfn first machine frame
 * @param nr number of frames (>= 1)
 * @param type the type (not VC_P2M_INVALID: use vc_p2m_unmap())
 * @param access the access
 * @param flush accumulates the flush this change needs
 * @return 0; #VC_EINVAL for a bad type or access, nr == 0 or a NULL flush;
 *         #VC_ERANGE if the gfn range passes the input address width or the
 *         mfn range the output width; #VC_EOVERFLOW for a range that wraps;
 *         #VC_EALIGN if gfn, mfn or nr is not a multiple of the granule
 *         (16K/64K ARM granules); #VC_ECORRUPT if a table entry on the way
 *         does not decode; #VC_ENOMEM (nothing changed)
 */
VC_API int vc_p2m_map(struct vc_p2m *p2m, vc_gfn_t gfn, vc_mfn_t mfn, uint64_t nr,
                      enum vc_p2m_type type, enum vc_p2m_access access,
                      struct vc_flush *flush);

/**
 * @brief Set exactly one entry of order @p order (Xen's set_entry).
 *
 * With type VC_P2M_INVALID the range is unmapped (mfn is ignored).
 *
 * @param p2m the p2m
 * @param gfn first frame, aligned to 2^order
 * @param mfn machine frame, aligned to 2^order (ignored for VC_P2M_INVALID)
 * @param order log2 frames; the format need not have a leaf of this order
 *        (then the range is mapped with smaller leaves)
 * @param type the type
 * @param access the access
 * @param flush accumulates the flush
 * @return as vc_p2m_map(), plus #VC_EALIGN for a misaligned gfn or mfn
 *         and #VC_EINVAL for order > 63
 */
VC_API int vc_p2m_set_entry(struct vc_p2m *p2m, vc_gfn_t gfn, vc_mfn_t mfn,
                            unsigned int order, enum vc_p2m_type type,
                            enum vc_p2m_access access, struct vc_flush *flush);

/**
 * @brief Unmap [gfn, gfn + nr). Unmapped frames in the range are fine.
 * @param p2m the p2m
 * @param gfn first frame
 * @param nr number of frames
 * @param flush accumulates the flush (freed tables go on its deferred list)
 * @return 0; #VC_EINVAL for nr == 0 or a NULL flush; #VC_ERANGE; #VC_EOVERFLOW;
 *         #VC_EALIGN (16K/64K granules); #VC_ECORRUPT; #VC_ENOMEM (a
 *         superpage that is only partly unmapped needs a table)
 */
VC_API int vc_p2m_unmap(struct vc_p2m *p2m, vc_gfn_t gfn, uint64_t nr,
                        struct vc_flush *flush);

/**
 * @brief Change the type of every frame in range whose type is @p from to @p to.
 *
 * Frames of other types and unmapped frames are left alone (Xen's
 * p2m_change_type_range): RAM_RW -> RAM_LOGDIRTY enables dirty logging.
 *
 * @param p2m the p2m
 * @param gfn first frame
 * @param nr number of frames
 * @param from the type to change (not VC_P2M_INVALID)
 * @param to the new type (not VC_P2M_INVALID)
 * @param flush accumulates the flush
 * @return 0; #VC_EINVAL (bad type, nr == 0, NULL flush); #VC_ERANGE;
 *         #VC_EOVERFLOW; #VC_EALIGN; #VC_ECORRUPT; #VC_ENOMEM
 */
VC_API int vc_p2m_change_type(struct vc_p2m *p2m, vc_gfn_t gfn, uint64_t nr,
                              enum vc_p2m_type from, enum vc_p2m_type to,
                              struct vc_flush *flush);

/**
 * @brief Set the access of every mapped frame in range.
 * @param p2m the p2m
 * @param gfn first frame
 * @param nr number of frames
 * @param access the new access
 * @param flush accumulates the flush
 * @return 0; #VC_EINVAL (bad access, nr == 0, NULL flush); #VC_ERANGE;
 *         #VC_EOVERFLOW; #VC_EALIGN; #VC_ECORRUPT; #VC_ENOMEM
 */
VC_API int vc_p2m_set_access(struct vc_p2m *p2m, vc_gfn_t gfn, uint64_t nr,
                             enum vc_p2m_access access, struct vc_flush *flush);

/**
 * @brief Set or clear suppress-\#VE on every mapped frame in range.
 * @param p2m the p2m
 * @param gfn first frame
 * @param nr number of frames
 * @param sve the new value
 * @param flush accumulates the flush
 * @return 0; #VC_EINVAL (nr == 0, NULL flush); #VC_ERANGE; #VC_EOVERFLOW;
 *         #VC_EALIGN; #VC_ECORRUPT; #VC_ENOMEM
 */
VC_API int vc_p2m_set_suppress_ve(struct vc_p2m *p2m, vc_gfn_t gfn, uint64_t nr, bool sve,
                                  struct vc_flush *flush);

/**
 * @brief Look up one guest frame.
 * @param p2m the p2m
 * @param gfn the frame
 * @param[out] out its mapping (type VC_P2M_INVALID and mfn VC_INVALID_MFN
 *             when unmapped; order is then the size of the unmapped span)
 * @return 0; #VC_ERANGE past the input address width; #VC_ECORRUPT if a
 *         table entry does not decode (memory corruption)
 */
VC_API int vc_p2m_lookup(struct vc_p2m *p2m, vc_gfn_t gfn, struct vc_p2m_entry *out);

/**
 * @brief vc_p2m_lookup() without taking the lock.
 *
 * Safe against one concurrent writer provided tables that writer frees are
 * released (vc_flush_complete()) only after this call has returned, the
 * same condition as for hardware walkers. The result is what a hardware
 * walker could see: the mapping before or after any concurrent change of
 * the frame, or, on a break-before-make format (ARM) while the writer is
 * between break and make, the frame unmapped (hardware would fault and the
 * guest retry). When the host has a direct map (vc_host_ops.direct_map)
 * and the format a fast-walk descriptor, the walk follows entries exactly
 * as hardware does, without checking them against the engine's
 * bookkeeping; vc_p2m_lookup() and vc_p2m_audit() do check.
 *
 * @param p2m the p2m
 * @param gfn the frame
 * @param[out] out its mapping
 * @return as vc_p2m_lookup(); #VC_EAGAIN if it kept racing with a writer
 *         (64 table replacements, or a writer stalled inside an entry
 *         update on a side-array format): call again, or take the lock
 */
VC_API int vc_p2m_lookup_unlocked(struct vc_p2m *p2m, vc_gfn_t gfn,
                                  struct vc_p2m_entry *out);

/**
 * @brief Walk [gfn, gfn + nr), calling the visitor for the wanted visits.
 *
 * Entries are visited in address order; a table entry is visited before
 * (TABLE_PRE) and after (TABLE_POST) its children. Visitors must not
 * change the p2m. Takes the p2m lock.
 *
 * @param p2m the p2m
 * @param gfn first frame
 * @param nr number of frames
 * @param walker visitor, argument and flags
 * @return 0; the visitor's non-zero return; #VC_EINVAL for a NULL visitor
 *         or unknown flags; #VC_ERANGE; #VC_EOVERFLOW; #VC_ECORRUPT
 */
VC_API int vc_p2m_walk(struct vc_p2m *p2m, vc_gfn_t gfn, uint64_t nr,
                       const struct vc_p2m_walker *walker);

/**
 * @brief Check every invariant of the tables.
 *
 * Every table is reachable once and only once, every entry decodes and is
 * legal for its level, table pointers match their bookkeeping, leaf frames
 * fit the output width and are aligned to their size, the per-table counts
 * of used entries are right, no table is empty (it would have been freed),
 * and (unless merging is off) no table is mergeable.
 *
 * @param p2m the p2m
 * @param[out] msg if non-NULL, set to a static description of the first
 *             broken invariant
 * @return 0, or #VC_ECORRUPT
 */
VC_API int vc_p2m_audit(struct vc_p2m *p2m, const char **msg);

/**
 * @brief Install (or with NULL remove) the change observer.
 * @param p2m the p2m
 * @param fn the observer
 * @param arg its argument
 * @return 0, or #VC_EBUSY if another observer is installed
 */
VC_API int vc_p2m_set_observer(struct vc_p2m *p2m, vc_p2m_observer_fn fn, void *arg);

/**
 * @brief The hardware root pointer: EPTP, VTTBR_EL2 (with VMID) or nCR3.
 * @param p2m the p2m
 * @return the value to load
 */
VC_API uint64_t vc_p2m_hw_pointer(const struct vc_p2m *p2m);

/**
 * @brief The format configuration, with the outputs (levels, VTCR_EL2) filled in.
 * @param p2m the p2m
 * @return a pointer valid for the p2m's lifetime
 */
VC_API const struct vc_p2m_format_cfg *vc_p2m_format_cfg(const struct vc_p2m *p2m);

/**
 * @brief The format of a p2m.
 * @param p2m the p2m
 * @return the format ops
 */
VC_API const struct vc_p2m_format *vc_p2m_format(const struct vc_p2m *p2m);

/**
 * @brief Count tables and leaves.
 * @param p2m the p2m
 * @param[out] st the counts
 */
VC_API void vc_p2m_stats(struct vc_p2m *p2m, struct vc_p2m_stats *st);

/**
 * @brief Rights of a type (RAM_RW: rwx; RAM_RO, LOGDIRTY, SHARED: rx;
 *        MMIO_DIRECT, GRANT_RW: rw; GRANT_RO: r; INVALID, MMIO_DM: none).
 * @param type the type
 * @return enum vc_perm bits; 0 for an unknown type
 */
VC_API unsigned int vc_p2m_type_rights(enum vc_p2m_type type);

/**
 * @brief Rights of an access value (RX2RW: rx; N2RWX: none).
 * @param access the access
 * @return enum vc_perm bits; 0 for an unknown value
 */
VC_API unsigned int vc_p2m_access_rights(enum vc_p2m_access access);

/**
 * @brief Effective rights: type rights AND access rights.
 * @param type the type @param access the access
 * @return enum vc_perm bits
 */
VC_API unsigned int vc_p2m_rights(enum vc_p2m_type type, enum vc_p2m_access access);

/**
 * @brief Name of a type ("ram_rw", ...).
 * @param type the type @return a static string; "?" if unknown
 */
VC_API const char *vc_p2m_type_name(enum vc_p2m_type type);

/**
 * @brief Name of an access value ("rwx", "rx2rw", ...).
 * @param access the access @return a static string; "?" if unknown
 */
VC_API const char *vc_p2m_access_name(enum vc_p2m_access access);

/** @} */

VC_END_DECLS

#endif /* VIRTCORE_P2M_H */
