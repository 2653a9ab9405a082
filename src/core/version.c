/* SPDX-License-Identifier: MIT */
#include <virtcore/virtcore.h>

const char *vc_version(void)
{
    return VC_VERSION_STRING;
}
