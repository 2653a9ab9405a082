/* SPDX-License-Identifier: MIT */
/**
 * @file cpumask.h
 * @brief Runtime-sized CPU masks with word-wise operations.
 */
#ifndef VIRTCORE_CPUMASK_H
#define VIRTCORE_CPUMASK_H

#include <virtcore/host.h>
#include <virtcore/types.h>

VC_BEGIN_DECLS

/**
 * @defgroup cpumask CPU masks
 * @brief Bitmaps of CPUs (or vCPUs) sized at run time.
 *
 * A mask covers CPUs 0..nr_cpus-1 in 64-bit words; every operation costs a
 * number of steps proportional to the number of words, not of CPUs. Bits at
 * or above nr_cpus are always zero. Binary operations require masks of equal
 * size and return #VC_EINVAL otherwise, so nothing is ever truncated
 * silently. A mask has no lock; the caller serialises.
 * @{
 */

/** Largest supported number of CPUs in one mask. */
#define VC_CPUMASK_MAX_CPUS 65536u
/** Number of 64-bit words needed for @p n CPUs (for caller-supplied storage). */
#define VC_CPUMASK_WORDS(n) (((n) + 63u) / 64u)

/** A CPU mask. Use the functions below; the fields are read-only. */
struct vc_cpumask {
    unsigned int nr_cpus;   /**< CPUs covered: 1..VC_CPUMASK_MAX_CPUS */
    unsigned int nr_words;  /**< VC_CPUMASK_WORDS(nr_cpus) */
    uint64_t *words;        /**< bit c of words[c / 64] is CPU c */
    const struct vc_host *host; /**< set by vc_cpumask_create(), NULL for init() */
};

/**
 * @brief Initialise a mask over caller-supplied storage and clear it.
 * @param m the mask
 * @param storage at least VC_CPUMASK_WORDS(nr_cpus) words, owned by the caller
 * @param nr_cpus CPUs covered
 * @return 0, or #VC_EINVAL if an argument is NULL or nr_cpus is 0 or above
 *         #VC_CPUMASK_MAX_CPUS
 */
VC_API int vc_cpumask_init(struct vc_cpumask *m, uint64_t *storage, unsigned int nr_cpus);

/**
 * @brief Allocate an empty mask through the host.
 * @param host host ops (alloc/free are used)
 * @param nr_cpus CPUs covered
 * @param[out] out the new mask
 * @return 0; #VC_EINVAL for a bad host or size; #VC_ENOMEM
 */
VC_API int vc_cpumask_create(const struct vc_host *host, unsigned int nr_cpus,
                             struct vc_cpumask **out);

/** @brief Free a mask from vc_cpumask_create(). @param m the mask, or NULL */
VC_API void vc_cpumask_destroy(struct vc_cpumask *m);

/** @brief Clear every CPU. @param m the mask */
VC_API void vc_cpumask_clear_all(struct vc_cpumask *m);
/** @brief Set every CPU below nr_cpus. @param m the mask */
VC_API void vc_cpumask_set_all(struct vc_cpumask *m);

/**
 * @brief Add a CPU.
 * @param m the mask @param cpu the CPU
 * @return 0, or #VC_ERANGE if cpu >= nr_cpus (the mask is unchanged)
 */
VC_API int vc_cpumask_set(struct vc_cpumask *m, unsigned int cpu);
/**
 * @brief Remove a CPU.
 * @param m the mask @param cpu the CPU
 * @return 0, or #VC_ERANGE if cpu >= nr_cpus
 */
VC_API int vc_cpumask_clear(struct vc_cpumask *m, unsigned int cpu);
/**
 * @brief Test a CPU.
 * @param m the mask @param cpu the CPU
 * @return true if set; false if clear or cpu >= nr_cpus
 */
VC_API bool vc_cpumask_test(const struct vc_cpumask *m, unsigned int cpu);

/**
 * @brief dst = a & b.
 * @param dst result (may alias a or b) @param a first operand @param b second operand
 * @return 0, or #VC_EINVAL if the masks differ in size
 */
VC_API int vc_cpumask_and(struct vc_cpumask *dst, const struct vc_cpumask *a,
                          const struct vc_cpumask *b);
/**
 * @brief dst = a | b.
 * @param dst result (may alias a or b) @param a first operand @param b second operand
 * @return 0, or #VC_EINVAL if the masks differ in size
 */
VC_API int vc_cpumask_or(struct vc_cpumask *dst, const struct vc_cpumask *a,
                         const struct vc_cpumask *b);
/**
 * @brief dst = a & ~b.
 * @param dst result (may alias a or b) @param a first operand @param b second operand
 * @return 0, or #VC_EINVAL if the masks differ in size
 */
VC_API int vc_cpumask_andnot(struct vc_cpumask *dst, const struct vc_cpumask *a,
                             const struct vc_cpumask *b);
/**
 * @brief dst = src.
 * @param dst destination @param src source
 * @return 0, or #VC_EINVAL if the masks differ in size
 */
VC_API int vc_cpumask_copy(struct vc_cpumask *dst, const struct vc_cpumask *src);

/** @brief Number of CPUs set. @param m the mask @return the population count */
VC_API unsigned int vc_cpumask_weight(const struct vc_cpumask *m);
/** @brief Whether no CPU is set. @param m the mask @return true if empty */
VC_API bool vc_cpumask_empty(const struct vc_cpumask *m);
/**
 * @brief Whether two masks hold the same CPUs.
 * @param a first @param b second
 * @return true if equal; false if they differ in content or size
 */
VC_API bool vc_cpumask_equal(const struct vc_cpumask *a, const struct vc_cpumask *b);
/**
 * @brief Whether the masks share a CPU.
 * @param a first @param b second
 * @return true if a & b is non-empty; false if disjoint or of different sizes
 */
VC_API bool vc_cpumask_intersects(const struct vc_cpumask *a, const struct vc_cpumask *b);
/**
 * @brief Whether every CPU of @p a is in @p b.
 * @param a candidate subset @param b superset
 * @return true if a & ~b is empty; false if not or of different sizes
 */
VC_API bool vc_cpumask_subset(const struct vc_cpumask *a, const struct vc_cpumask *b);

/**
 * @brief The lowest CPU set.
 * @param m the mask
 * @return the CPU, or nr_cpus if the mask is empty
 */
VC_API unsigned int vc_cpumask_first(const struct vc_cpumask *m);
/**
 * @brief The lowest CPU set above @p cpu.
 * @param m the mask @param cpu the previous CPU (any value)
 * @return the next CPU > @p cpu, or nr_cpus if there is none
 */
VC_API unsigned int vc_cpumask_next(const struct vc_cpumask *m, unsigned int cpu);

/** Iterate @p cpu over every CPU set in @p m, in increasing order. */
#define vc_cpumask_for_each(cpu, m)                                         \
    for ((cpu) = vc_cpumask_first(m); (cpu) < (m)->nr_cpus;                 \
         (cpu) = vc_cpumask_next((m), (cpu)))

/**
 * @brief Set the CPUs of a list such as "0-3,8,16-31" (in addition to those set).
 *
 * Accepts decimal numbers and inclusive ranges separated by commas, with no
 * spaces; the empty string sets nothing.
 *
 * @param m the mask
 * @param s a NUL-terminated list
 * @return 0; #VC_EINVAL for a syntax error or a reversed range; #VC_ERANGE
 *         for a CPU >= nr_cpus. On error the mask is unchanged.
 */
VC_API int vc_cpumask_parse(struct vc_cpumask *m, const char *s);

/**
 * @brief Format a mask as a list ("0-3,8").
 * @param m the mask
 * @param buf output buffer (NUL-terminated on success)
 * @param len its size in bytes
 * @return the string length (>= 0); #VC_ENOSPC if the list and its NUL do
 *         not fit (nothing is truncated: buf is then the empty string if
 *         len > 0)
 */
VC_API int vc_cpumask_format(const struct vc_cpumask *m, char *buf, size_t len);

/** @} */

VC_END_DECLS

#endif /* VIRTCORE_CPUMASK_H */
