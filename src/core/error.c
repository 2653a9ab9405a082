/* SPDX-License-Identifier: MIT */
/* Error codes and their messages. */
#include <virtcore/error.h>

#include "internal/core.h"

struct errdesc {
    const char *name;
    const char *msg;
};

/* Indexed by -code. */
static const struct errdesc errors[] = {
    [0] = {"VC_OK", "success"},
    [-VC_EINVAL] = {"VC_EINVAL", "invalid argument"},
    [-VC_ENOMEM] = {"VC_ENOMEM", "out of memory"},
    [-VC_ERANGE] = {"VC_ERANGE", "address or index out of range"},
    [-VC_EALIGN] = {"VC_EALIGN", "misaligned address"},
    [-VC_EOVERFLOW] = {"VC_EOVERFLOW", "range wraps or count overflows"},
    [-VC_EEXIST] = {"VC_EEXIST", "already exists or already set"},
    [-VC_ENOENT] = {"VC_ENOENT", "no such entry"},
    [-VC_EBUSY] = {"VC_EBUSY", "object in use"},
    [-VC_EPERM] = {"VC_EPERM", "operation not permitted"},
    [-VC_ENOTSUP] = {"VC_ENOTSUP", "not supported"},
    [-VC_ENOSPC] = {"VC_ENOSPC", "buffer too small"},
    [-VC_ENOTMINE] = {"VC_ENOTMINE", "access not handled by this module"},
    [-VC_EFAULT] = {"VC_EFAULT", "guest access must fault"},
    [-VC_EAGAIN] = {"VC_EAGAIN", "handled: retry the access"},
    [-VC_ECORRUPT] = {"VC_ECORRUPT", "corrupt or hostile input"},
    [-VC_EVERSION] = {"VC_EVERSION", "unsupported version"},
    [-VC_ELOCKORDER] = {"VC_ELOCKORDER", "lock order violation"},
    [-VC_ESTATE] = {"VC_ESTATE", "object state does not allow this"},
    [-VC_EPARTIAL] = {"VC_EPARTIAL", "stopped early; progress reported"},
};

_Static_assert(VC_ARRAY_SIZE(errors) == (size_t)-VC_ERROR_MIN + 1,
               "every error code has a message");

static const struct errdesc *lookup(int err)
{
    if (err > 0 || err < VC_ERROR_MIN)
        return NULL;
    return &errors[-err];
}

const char *vc_strerror(int err)
{
    const struct errdesc *d = lookup(err);
    return d ? d->msg : "unknown error";
}

const char *vc_errname(int err)
{
    const struct errdesc *d = lookup(err);
    return d ? d->name : "VC_E?";
}
