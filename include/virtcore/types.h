/* SPDX-License-Identifier: MIT */
/**
 * @file types.h
 * @brief Typed addresses and the base macros every libvirtcore header uses.
 *
 * Each kind of address is a one-member struct, so a guest frame can never be
 * passed where a machine frame is expected without an explicit conversion.
 * All frame numbers count 4 KiB frames (@ref VC_FRAME_SHIFT), whatever the
 * translation granule of the table that maps them: a format with a 16 KiB or
 * 64 KiB granule simply requires larger alignment.
 */
#ifndef VIRTCORE_TYPES_H
#define VIRTCORE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** @cond INTERNAL */
#if defined(__GNUC__) || defined(__clang__)
#define VC_API __attribute__((visibility("default")))
#else
#define VC_API
#endif

#ifdef __cplusplus
#define VC_BEGIN_DECLS extern "C" {
#define VC_END_DECLS }
#else
#define VC_BEGIN_DECLS
#define VC_END_DECLS
#endif
/** @endcond */

VC_BEGIN_DECLS

/**
 * @defgroup types Typed addresses
 * @brief Guest, machine and device frames and physical addresses.
 * @{
 */

/** log2 of the frame size used by every frame number in the library. */
#define VC_FRAME_SHIFT 12
/** The frame size in bytes (4 KiB). */
#define VC_FRAME_SIZE (UINT64_C(1) << VC_FRAME_SHIFT)

/** A guest frame number: a guest-physical (IPA) address >> 12. */
typedef struct {
    uint64_t v; /**< raw value; use vc_gfn_x() */
} vc_gfn_t;

/** A machine frame number: a host-physical address >> 12. */
typedef struct {
    uint64_t v; /**< raw value; use vc_mfn_x() */
} vc_mfn_t;

/** A device frame number: an IOVA (DMA address) >> 12. */
typedef struct {
    uint64_t v; /**< raw value; use vc_dfn_x() */
} vc_dfn_t;

/** A host-physical byte address (of a page-table page, for example). */
typedef struct {
    uint64_t v; /**< raw value; use vc_paddr_x() */
} vc_paddr_t;

/** Raw value of the invalid frame of every kind. */
#define VC_INVALID_FRAME UINT64_MAX

/** @brief Make a guest frame number. @param v raw frame number @return the gfn */
static inline vc_gfn_t vc_gfn(uint64_t v)
{
    vc_gfn_t g;
    g.v = v;
    return g;
}
/** @brief Make a machine frame number. @param v raw frame number @return the mfn */
static inline vc_mfn_t vc_mfn(uint64_t v)
{
    vc_mfn_t m;
    m.v = v;
    return m;
}
/** @brief Make a device frame number. @param v raw frame number @return the dfn */
static inline vc_dfn_t vc_dfn(uint64_t v)
{
    vc_dfn_t d;
    d.v = v;
    return d;
}
/** @brief Make a physical address. @param v byte address @return the paddr */
static inline vc_paddr_t vc_paddr(uint64_t v)
{
    vc_paddr_t p;
    p.v = v;
    return p;
}

/** @brief Raw value of a gfn. @param g the gfn @return its frame number */
static inline uint64_t vc_gfn_x(vc_gfn_t g)
{
    return g.v;
}
/** @brief Raw value of an mfn. @param m the mfn @return its frame number */
static inline uint64_t vc_mfn_x(vc_mfn_t m)
{
    return m.v;
}
/** @brief Raw value of a dfn. @param d the dfn @return its frame number */
static inline uint64_t vc_dfn_x(vc_dfn_t d)
{
    return d.v;
}
/** @brief Raw value of a paddr. @param p the address @return the byte address */
static inline uint64_t vc_paddr_x(vc_paddr_t p)
{
    return p.v;
}

/** The invalid guest frame. */
#define VC_INVALID_GFN (vc_gfn(VC_INVALID_FRAME))
/** The invalid machine frame. */
#define VC_INVALID_MFN (vc_mfn(VC_INVALID_FRAME))
/** The invalid device frame. */
#define VC_INVALID_DFN (vc_dfn(VC_INVALID_FRAME))

/** @brief Frame equality. @param a first @param b second @return true if equal */
static inline bool vc_gfn_eq(vc_gfn_t a, vc_gfn_t b)
{
    return a.v == b.v;
}
/** @brief Frame equality. @param a first @param b second @return true if equal */
static inline bool vc_mfn_eq(vc_mfn_t a, vc_mfn_t b)
{
    return a.v == b.v;
}
/** @brief Frame equality. @param a first @param b second @return true if equal */
static inline bool vc_dfn_eq(vc_dfn_t a, vc_dfn_t b)
{
    return a.v == b.v;
}

/** @brief Whether a gfn is valid. @param g the gfn @return false for VC_INVALID_GFN */
static inline bool vc_gfn_valid(vc_gfn_t g)
{
    return g.v != VC_INVALID_FRAME;
}
/** @brief Whether an mfn is valid. @param m the mfn @return false for VC_INVALID_MFN */
static inline bool vc_mfn_valid(vc_mfn_t m)
{
    return m.v != VC_INVALID_FRAME;
}
/** @brief Whether a dfn is valid. @param d the dfn @return false for VC_INVALID_DFN */
static inline bool vc_dfn_valid(vc_dfn_t d)
{
    return d.v != VC_INVALID_FRAME;
}

/**
 * @brief Offset a gfn.
 * @param g base frame @param n frames to add
 * @return g + n; the caller checks for overflow (see vc_range_ok())
 */
static inline vc_gfn_t vc_gfn_add(vc_gfn_t g, uint64_t n)
{
    return vc_gfn(g.v + n);
}
/** @brief Offset an mfn. @param m base frame @param n frames to add @return m + n */
static inline vc_mfn_t vc_mfn_add(vc_mfn_t m, uint64_t n)
{
    return vc_mfn(m.v + n);
}
/** @brief Offset a dfn. @param d base frame @param n frames to add @return d + n */
static inline vc_dfn_t vc_dfn_add(vc_dfn_t d, uint64_t n)
{
    return vc_dfn(d.v + n);
}

/**
 * @brief Physical address of the first byte of a machine frame.
 * @param m the frame (must be valid and below 2^52)
 * @return m << VC_FRAME_SHIFT
 */
static inline vc_paddr_t vc_mfn_to_paddr(vc_mfn_t m)
{
    return vc_paddr(m.v << VC_FRAME_SHIFT);
}
/**
 * @brief Machine frame holding a physical address.
 * @param p the address @return p >> VC_FRAME_SHIFT
 */
static inline vc_mfn_t vc_paddr_to_mfn(vc_paddr_t p)
{
    return vc_mfn(p.v >> VC_FRAME_SHIFT);
}

/**
 * @brief Check a frame range [start, start + count) for overflow and bounds.
 *
 * @param start first frame
 * @param count number of frames (0 is rejected: an empty range is a caller bug)
 * @param limit one past the highest acceptable frame
 * @return true if count > 0, start + count does not wrap and is <= limit
 */
static inline bool vc_range_ok(uint64_t start, uint64_t count, uint64_t limit)
{
    return count != 0 && start < limit && count <= limit - start;
}

/**
 * @brief Whether a frame number is aligned for a mapping of a given order.
 * @param frame the frame number
 * @param order log2 of the mapping size in frames (0..63)
 * @return true if the low @p order bits are clear
 */
static inline bool vc_order_aligned(uint64_t frame, unsigned int order)
{
    return order < 64 && (frame & ((UINT64_C(1) << order) - 1)) == 0;
}

/** @} */

VC_END_DECLS

#endif /* VIRTCORE_TYPES_H */
