/* SPDX-License-Identifier: MIT */
/**
 * @file flush.h
 * @brief Flush requests: what a translation change obliges the caller to invalidate.
 */
#ifndef VIRTCORE_FLUSH_H
#define VIRTCORE_FLUSH_H

#include <virtcore/types.h>

VC_BEGIN_DECLS

/**
 * @defgroup flush Flush requests
 * @brief The currency between the modules that change translations (p2m,
 * altp2m, IOMMU backends) and those that invalidate them (TLB planner, IOMMU
 * front end, the embedder).
 *
 * Every operation that changes a translation accumulates into a
 * caller-provided `struct vc_flush`:
 *
 * - the **kind**, the maximum seen: NONE < ADDED < MODIFIED < STRUCTURAL.
 *   ADDED means only non-present entries became present (only hardware that
 *   caches non-present entries, such as VT-d with CM=1, must flush);
 *   MODIFIED means a present entry changed or went away; STRUCTURAL means
 *   page-table pages were freed, or superpages were split or merged, so
 *   paging-structure caches must be flushed too.
 * - the affected **frame ranges**, at most #VC_FLUSH_MAX_RANGES disjoint
 *   ones; beyond that the two nearest ranges are merged (flushing more than
 *   needed is always safe), or the request becomes whole-space.
 * - the **deferred-free list**: page-table pages (or other memory hardware
 *   may still reach through a stale cached translation) that may be
 *   released only after the flush has completed. vc_flush_complete()
 *   releases them. No page is ever returned to the host before the flush
 *   that covers it (Xen XSA-346, XSA-480).
 *
 * The range unit is the frame of the address space being changed (gfn for a
 * p2m, dfn for an IOMMU domain). A vc_flush has no lock: it belongs to one
 * operation of one caller.
 * @{
 */

/** What a change obliges the caller to invalidate, ordered by strength. */
enum vc_flush_kind {
    VC_FLUSH_NONE = 0,       /**< nothing changed that hardware may cache */
    VC_FLUSH_ADDED = 1,      /**< only non-present entries became present */
    VC_FLUSH_MODIFIED = 2,   /**< a present entry changed or was removed */
    VC_FLUSH_STRUCTURAL = 3, /**< tables freed, superpages split or merged */
};

/** Number of disjoint ranges a vc_flush keeps before merging. */
#define VC_FLUSH_MAX_RANGES 4

/** A half-open frame range [start, end). */
struct vc_flush_range {
    uint64_t start; /**< first frame */
    uint64_t end;   /**< one past the last frame */
};

/**
 * A node of the deferred-free list. The producer embeds it in its own
 * bookkeeping for the memory to release (so adding to the list can never
 * fail) and sets @ref release before deferring it.
 */
struct vc_deferred_free {
    struct vc_deferred_free *next; /**< list link, owned by the vc_flush */
    /** Called once, after the flush completed, to release the memory. */
    void (*release)(struct vc_deferred_free *node);
};

/** A flush request accumulator. Initialise with vc_flush_init(). */
struct vc_flush {
    enum vc_flush_kind kind;   /**< strongest change seen */
    bool whole;                /**< the whole address space must be flushed */
    unsigned int nr_ranges;    /**< valid entries in @ref ranges (0 when whole) */
    /** Disjoint, non-adjacent ranges sorted by start. */
    struct vc_flush_range ranges[VC_FLUSH_MAX_RANGES];
    struct vc_deferred_free *deferred; /**< memory to release after the flush */
    struct vc_deferred_free *deferred_last; /**< last node of that list */
    unsigned int nr_deferred;  /**< length of the deferred list */
};

/** @brief Initialise an empty request (kind NONE). @param f the request */
VC_API void vc_flush_init(struct vc_flush *f);

/**
 * @brief Record a change over [start, start + count).
 *
 * The kind becomes the maximum of the current kind and @p kind. A change of
 * kind NONE records nothing. A range that wraps past 2^64 is clamped to the
 * end of the space (it still covers every affected frame).
 *
 * @param f the request
 * @param kind what changed
 * @param start first frame
 * @param count number of frames (0 records nothing)
 */
VC_API void vc_flush_add(struct vc_flush *f, enum vc_flush_kind kind, uint64_t start,
                         uint64_t count);

/**
 * @brief Record a change of the whole address space.
 * @param f the request
 * @param kind what changed (NONE records nothing)
 */
VC_API void vc_flush_add_all(struct vc_flush *f, enum vc_flush_kind kind);

/**
 * @brief Defer the release of memory until the flush completes.
 *
 * Deferring implies kind #VC_FLUSH_STRUCTURAL. The range that covers the
 * memory's translations must be recorded separately with vc_flush_add().
 *
 * @param f the request
 * @param node a node whose @ref vc_deferred_free.release is set; it must not
 *        be on any list
 */
VC_API void vc_flush_defer_free(struct vc_flush *f, struct vc_deferred_free *node);

/**
 * @brief Move everything in @p src into @p dst and re-initialise @p src.
 * @param dst the accumulating request
 * @param src a request to fold in (its deferred list moves to @p dst)
 */
VC_API void vc_flush_merge(struct vc_flush *dst, struct vc_flush *src);

/**
 * @brief Whether hardware that does not cache non-present entries must flush.
 * @param f the request
 * @return true if kind >= MODIFIED or memory is waiting on the flush
 */
VC_API bool vc_flush_required(const struct vc_flush *f);

/**
 * @brief Whether frame @p frame is covered by the request.
 * @param f the request @param frame the frame
 * @return true if kind != NONE and @p frame lies in a range (or whole is set)
 */
VC_API bool vc_flush_covers(const struct vc_flush *f, uint64_t frame);

/**
 * @brief Report that the flush was performed: release deferred memory and reset.
 *
 * Call only after the invalidation the request describes has completed on
 * every agent that may cache the translations (all CPUs, the IOMMU). Each
 * deferred node's release() is called once, in the order deferred.
 *
 * @param f the request; it is re-initialised
 */
VC_API void vc_flush_complete(struct vc_flush *f);

/**
 * @brief A short name of a flush kind ("none", "added", "modified", "structural").
 * @param kind the kind
 * @return a static string; "?" for an unknown value
 */
VC_API const char *vc_flush_kind_name(enum vc_flush_kind kind);

/** @} */

VC_END_DECLS

#endif /* VIRTCORE_FLUSH_H */
