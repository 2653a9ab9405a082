/* SPDX-License-Identifier: MIT */
/**
 * @file virtcore.h
 * @brief Umbrella header: includes every public header of this build.
 */
#ifndef VIRTCORE_VIRTCORE_H
#define VIRTCORE_VIRTCORE_H

#include <virtcore/config.h>
#include <virtcore/types.h>
#include <virtcore/error.h>
#include <virtcore/host.h>
#include <virtcore/cpumask.h>
#include <virtcore/flush.h>
#include <virtcore/p2m_format.h>
#include <virtcore/p2m.h>
#if VC_HAVE_HOSTED
#include <virtcore/hosted.h>
#endif

VC_BEGIN_DECLS

/**
 * @defgroup version Version
 * @brief Run-time version query.
 * @{
 */

/**
 * @brief The version of the library actually loaded.
 * @return a static "major.minor.patch" string (compare with VC_VERSION_STRING)
 */
VC_API const char *vc_version(void);

/** @} */

VC_END_DECLS

#endif /* VIRTCORE_VIRTCORE_H */
