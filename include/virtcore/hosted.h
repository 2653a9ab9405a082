/* SPDX-License-Identifier: MIT */
/**
 * @file hosted.h
 * @brief Default host operations for userspace embedders (not in freestanding builds).
 */
#ifndef VIRTCORE_HOSTED_H
#define VIRTCORE_HOSTED_H

#include <virtcore/host.h>

VC_BEGIN_DECLS

/**
 * @defgroup hosted Hosted layer
 * @brief Ready-made host ops for an emulator, a userspace VMM or a test.
 *
 * Page-table pages come from a private arena reserved with mmap: each page
 * gets a fake but consistent physical address (arena offset plus
 * @ref vc_hosted_config.phys_base), so phys_to_virt() is exact and rejects
 * addresses outside the live pages. Objects come from calloc(); locks are
 * pthread mutexes; the lock-order tracker is thread-local; log messages go
 * to stderr, filtered by level. All ops are thread-safe.
 *
 * Typical use:
 * @code
 * struct vc_hosted *h;
 * if (vc_hosted_create(NULL, &h) == 0) {
 *     const struct vc_host *host = vc_hosted_host(h);
 *     ... create libvirtcore objects with host ...
 *     vc_hosted_destroy(h);
 * }
 * @endcode
 * @{
 */

/** Configuration; zero address fields take the defaults. */
struct vc_hosted_config {
    /** Physical address of the arena's first byte (default 4 GiB); 1 MiB aligned. */
    uint64_t phys_base;
    /** Bytes of address space reserved for page-table pages (default 64 GiB). */
    uint64_t arena_size;
    /** Most verbose level printed: zero (#VC_LOG_ERROR) prints errors only;
     *  a NULL configuration prints warnings too. */
    enum vc_log_level log_level;
    /** Do not print anything (log calls are still counted). */
    bool quiet;
};

/** Counters, for tests and the benchmarks. */
struct vc_hosted_stats {
    uint64_t pt_live_bytes;  /**< page-table bytes currently allocated */
    uint64_t pt_peak_bytes;  /**< the highest pt_live_bytes seen */
    uint64_t pt_allocs;      /**< successful pt_alloc calls */
    uint64_t pt_frees;       /**< pt_free calls */
    uint64_t obj_live;       /**< objects currently allocated */
    uint64_t log_messages;   /**< log calls, printed or not */
};

/** Opaque hosted instance. */
struct vc_hosted;

/**
 * @brief Create a hosted instance.
 * @param cfg configuration, or NULL for the defaults
 * @param[out] out the instance
 * @return 0; #VC_EINVAL for a misaligned phys_base, an arena size that is
 *         not a multiple of 1 MiB or whose end passes 2^52; #VC_ENOMEM if the
 *         arena cannot be reserved
 */
VC_API int vc_hosted_create(const struct vc_hosted_config *cfg, struct vc_hosted **out);

/**
 * @brief Destroy a hosted instance and its arena.
 *
 * Pages still allocated are reported through the log (a leak in the
 * embedder) and released with the arena.
 *
 * @param h the instance, or NULL
 */
VC_API void vc_hosted_destroy(struct vc_hosted *h);

/**
 * @brief The host ops of an instance, valid until vc_hosted_destroy().
 * @param h the instance
 * @return the host
 */
VC_API const struct vc_host *vc_hosted_host(struct vc_hosted *h);

/**
 * @brief Read the counters.
 * @param h the instance
 * @param[out] st the counters
 */
VC_API void vc_hosted_stats(struct vc_hosted *h, struct vc_hosted_stats *st);

/** @} */

VC_END_DECLS

#endif /* VIRTCORE_HOSTED_H */
