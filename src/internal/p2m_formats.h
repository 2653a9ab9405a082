/* SPDX-License-Identifier: MIT */
/* The built-in p2m formats (src/p2m/{ept,arm_s2,x86_64}.c). Never installed. */
#ifndef VIRTCORE_INTERNAL_P2M_FORMATS_H
#define VIRTCORE_INTERNAL_P2M_FORMATS_H

#include <virtcore/p2m_format.h>

/* Hidden: reached PC-relative, never through the GOT (a GOT reference
 * would break the freestanding symbol contract). */
#define VC_HIDDEN __attribute__((visibility("hidden")))
extern const struct vc_p2m_format vc_fmt_ept VC_HIDDEN;
extern const struct vc_p2m_format vc_fmt_arm_s2 VC_HIDDEN;
extern const struct vc_p2m_format vc_fmt_x86_64 VC_HIDDEN;

#endif
