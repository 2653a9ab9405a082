/* SPDX-License-Identifier: MIT */
/**
 * @file host.h
 * @brief Host operations: everything environmental the library needs.
 */
#ifndef VIRTCORE_HOST_H
#define VIRTCORE_HOST_H

#include <stdarg.h>
#include <virtcore/types.h>

VC_BEGIN_DECLS

/**
 * @defgroup host Host operations
 * @brief Per-instance services supplied by the embedder.
 *
 * Every libvirtcore object is created with a `struct vc_host` (ops table and
 * cookie) and reaches its environment only through it: there is no global
 * state. A hypervisor fills the ops from its own allocators and locks; a
 * userspace program takes the defaults from hosted.h.
 *
 * Required ops: @ref vc_host_ops.pt_alloc, @ref vc_host_ops.pt_free,
 * @ref vc_host_ops.phys_to_virt, @ref vc_host_ops.alloc and
 * @ref vc_host_ops.free. Every other op is optional (NULL): without locks
 * the caller serialises access to each object; without a log hook messages
 * are dropped; without a clock, modules that need time report
 * #VC_ENOTSUP.
 *
 * The ops are called from the context of the library call that needs them
 * and must not call back into the same object.
 * @{
 */

/** Log levels, most severe first. */
enum vc_log_level {
    VC_LOG_ERROR = 0, /**< a bug or a broken invariant */
    VC_LOG_WARN = 1,  /**< a guest did something wrong, or a resource ran out */
    VC_LOG_INFO = 2,  /**< a notable state change */
    VC_LOG_DEBUG = 3, /**< tracing */
};

/**
 * Lock classes, in the order they must be taken (a thread may only acquire a
 * lock of a class strictly greater than every class it already holds).
 * The order is Xen's mm-locks discipline: host p2m, then the altp2m list,
 * then one altp2m view, then IOMMU mappings.
 */
enum vc_lock_class {
    VC_LOCK_CLASS_NONE = 0,      /**< not order-checked */
    VC_LOCK_P2M = 10,            /**< a host p2m */
    VC_LOCK_ALTP2M_LIST = 20,    /**< the altp2m view array of a domain */
    VC_LOCK_ALTP2M_VIEW = 30,    /**< one altp2m view */
    VC_LOCK_IOMMU = 40,          /**< an IOMMU domain's mappings */
    VC_LOCK_TLB = 50,            /**< a TLB address-space object */
    VC_LOCK_DEVICE = 60,         /**< a device model (PL011, Viridian state) */
};

/** Maximum nesting depth the lock-order checker tracks per thread. */
#define VC_LOCK_TRACKER_DEPTH 16

/**
 * Per-thread state of the lock-order checker. The host keeps one per thread
 * (or per physical CPU in a hypervisor) and returns it from
 * @ref vc_host_ops.lock_tracker. Zero-initialise it.
 */
struct vc_lock_tracker {
    unsigned int depth;                            /**< locks currently held */
    unsigned int classes[VC_LOCK_TRACKER_DEPTH];   /**< their classes, in order */
    unsigned long violations;                      /**< order violations seen */
    unsigned int last_held;                        /**< class held at the last violation */
    unsigned int last_wanted;                      /**< class requested at the last violation */
};

/** Host services. See the group description for which are optional. */
struct vc_host_ops {
    /**
     * Allocate a zeroed page-table page (or a run of them).
     * @param cookie the host cookie
     * @param size bytes: a power of two, at least 4096
     * @param align required alignment of the physical address (a power of
     *        two; equal to @p size for concatenated roots)
     * @param[out] pa the physical address hardware will use for the page
     * @return the virtual address the library writes through, or NULL
     */
    void *(*pt_alloc)(void *cookie, size_t size, size_t align, vc_paddr_t *pa);
    /** Free a page from pt_alloc(); @p size is the size it was allocated with. */
    void (*pt_free)(void *cookie, void *va, vc_paddr_t pa, size_t size);
    /**
     * Translate the physical address of a page from pt_alloc() back to the
     * address the library may access it through. Returns NULL if @p pa is
     * not a page-table page the host knows (the library then reports
     * #VC_ECORRUPT rather than following it).
     */
    void *(*phys_to_virt)(void *cookie, vc_paddr_t pa);
    /**
     * Optional: report a constant @p offset such that every page from
     * pt_alloc() is accessible at (char *)0 + pa + offset for as long as it
     * is allocated (a hypervisor's direct map). Return false if there is
     * none. With it, lookups walk tables as hardware does, one load per
     * level, without the engine's bookkeeping.
     */
    bool (*direct_map)(void *cookie, intptr_t *offset);
    /** Allocate a zeroed small object aligned for any C type; NULL on failure. */
    void *(*alloc)(void *cookie, size_t size);
    /** Free an object from alloc(); @p size is the size it was allocated with. */
    void (*free)(void *cookie, void *p, size_t size);

    /** Create a lock of a class; NULL on failure. Optional. */
    void *(*lock_create)(void *cookie, unsigned int lock_class);
    /** Acquire a lock from lock_create(). */
    void (*lock_acquire)(void *cookie, void *lock);
    /** Release a lock from lock_create(). */
    void (*lock_release)(void *cookie, void *lock);
    /** Destroy an unheld lock from lock_create(). */
    void (*lock_destroy)(void *cookie, void *lock);
    /**
     * Return the calling thread's lock-order tracker, or NULL to skip the
     * check. Optional; only consulted when the library was built with the
     * lock-order checker (vc_lock_order_checking()).
     */
    struct vc_lock_tracker *(*lock_tracker)(void *cookie);

    /** Emit a log message (printf-style format). Optional. */
    void (*log)(void *cookie, enum vc_log_level level, const char *fmt, va_list ap);
    /** Monotonic time in nanoseconds. Optional. */
    uint64_t (*now_ns)(void *cookie);
    /** The TSC (or the counter a guest's reference time is based on). Optional. */
    uint64_t (*read_tsc)(void *cookie);
};

/** An ops table and the cookie passed back to each op. */
struct vc_host {
    const struct vc_host_ops *ops; /**< the services */
    void *cookie;                  /**< passed as the first argument of every op */
};

/**
 * @brief Check that a host has every required op.
 * @param host the host to check (may be NULL)
 * @return 0, or #VC_EINVAL if @p host, its ops or a required op is NULL
 */
VC_API int vc_host_check(const struct vc_host *host);

/**
 * @brief Record the acquisition of a lock class in a tracker and check the order.
 *
 * Embedders whose own locks wrap libvirtcore objects may use this directly;
 * the library calls it for the locks it takes when the checker is built in.
 * The class is pushed even on a violation so that the matching release
 * stays balanced.
 *
 * @param t the calling thread's tracker
 * @param lock_class the class being acquired
 * @return 0; #VC_ELOCKORDER if a class >= @p lock_class is already held
 *         (violations is incremented); #VC_EOVERFLOW if more than
 *         #VC_LOCK_TRACKER_DEPTH locks are held (the class is not pushed)
 */
VC_API int vc_lock_order_acquire(struct vc_lock_tracker *t, unsigned int lock_class);

/**
 * @brief Record the release of a lock class.
 *
 * Releases need not be in LIFO order: the most recent entry of the class is
 * removed.
 *
 * @param t the calling thread's tracker
 * @param lock_class the class being released
 * @return 0, or #VC_ENOENT if the class is not held (a bug in the caller)
 */
VC_API int vc_lock_order_release(struct vc_lock_tracker *t, unsigned int lock_class);

/**
 * @brief Whether the library was built with the lock-order checker.
 * @return true in debug builds (meson option `lockdep`)
 */
VC_API bool vc_lock_order_checking(void);

/** @} */

VC_END_DECLS

#endif /* VIRTCORE_HOST_H */
