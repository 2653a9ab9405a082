/* SPDX-License-Identifier: MIT */
/* The registry of built-in formats, indexed by enum vc_p2m_format_id. */
#include <virtcore/p2m_format.h>

#include "internal/p2m_formats.h"

const struct vc_p2m_format *vc_p2m_format_get(enum vc_p2m_format_id id)
{
    switch (id) {
    case VC_P2M_FMT_EPT:
        return &vc_fmt_ept;
    case VC_P2M_FMT_ARM_S2:
        return &vc_fmt_arm_s2;
    case VC_P2M_FMT_X86_64:
        return &vc_fmt_x86_64;
    }
    return NULL;
}
