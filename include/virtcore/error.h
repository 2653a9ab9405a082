/* SPDX-License-Identifier: MIT */
/**
 * @file error.h
 * @brief Error codes shared by every module.
 */
#ifndef VIRTCORE_ERROR_H
#define VIRTCORE_ERROR_H

#include <virtcore/types.h>

VC_BEGIN_DECLS

/**
 * @defgroup error Errors
 * @brief `int` results: 0 on success, a negative VC_E* code on failure.
 *
 * The codes are negative values themselves, so a caller writes
 * `if (rc == VC_ENOMEM)` and a callee writes `return VC_EINVAL;` with no sign
 * juggling. Functions that return a count use values >= 0 for it. The library
 * never uses errno.
 *
 * Guest-facing handlers use three codes to say who owns an access:
 * 0 (handled), #VC_ENOTMINE (the access is outside this module: route it
 * elsewhere) and #VC_EFAULT (the access is this module's and the guest must
 * receive a fault, such as a general-protection fault for an MSR or an external abort for MMIO).
 * @{
 */

/** Error codes. Every value is negative; 0 is success. */
enum vc_error {
    VC_OK = 0,           /**< success */
    VC_EINVAL = -1,      /**< an argument is invalid (unknown flag, bad value) */
    VC_ENOMEM = -2,      /**< the host allocator failed; nothing was changed */
    VC_ERANGE = -3,      /**< an address or index is out of the object's range */
    VC_EALIGN = -4,      /**< an address is not aligned as the operation requires */
    VC_EOVERFLOW = -5,   /**< a range wraps around or a count does not fit */
    VC_EEXIST = -6,      /**< the thing is already there (or set to another value) */
    VC_ENOENT = -7,      /**< the thing does not exist */
    VC_EBUSY = -8,       /**< the object is in use (a vCPU is on a view, ...) */
    VC_EPERM = -9,       /**< the caller may not do this (a guest setting a host value) */
    VC_ENOTSUP = -10,    /**< the format/backend/configuration lacks the feature */
    VC_ENOSPC = -11,     /**< a caller-supplied buffer is too small; nothing truncated */
    VC_ENOTMINE = -12,   /**< a guest access outside this module's range: route it elsewhere */
    VC_EFAULT = -13,     /**< a guest access this module owns that must fault the guest */
    VC_EAGAIN = -14,     /**< the operation was handled: retry the guest access */
    VC_ECORRUPT = -15,   /**< a save blob or a table failed validation */
    VC_EVERSION = -16,   /**< a save blob has an unsupported version */
    VC_ELOCKORDER = -17, /**< a lock was taken against the documented order */
    VC_ESTATE = -18,     /**< the object is not in a state that allows the call */
    VC_EPARTIAL = -19,   /**< a multi-item operation stopped early; progress was reported */
};

/** The most negative error code (for table sizing and range checks). */
#define VC_ERROR_MIN VC_EPARTIAL

/**
 * @brief A human-readable message for an error code.
 * @param err a return value of a libvirtcore function
 * @return a static string; "success" for 0, "unknown error" for a value that
 *         is not a VC_E* code. Never NULL.
 */
VC_API const char *vc_strerror(int err);

/**
 * @brief The symbolic name of an error code ("VC_EINVAL").
 * @param err a return value of a libvirtcore function
 * @return a static string; "VC_OK" for 0, "VC_E?" for an unknown value.
 *         Never NULL.
 */
VC_API const char *vc_errname(int err);

/** @} */

VC_END_DECLS

#endif /* VIRTCORE_ERROR_H */
