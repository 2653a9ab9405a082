/* SPDX-License-Identifier: MIT */
/* Host-op validation, logging and locks with the lock-order checker. */
#include <virtcore/config.h>
#include <virtcore/host.h>

#include "internal/core.h"

int vc_host_check(const struct vc_host *host)
{
    const struct vc_host_ops *o;

    if (!host || !host->ops)
        return VC_EINVAL;
    o = host->ops;
    if (!o->pt_alloc || !o->pt_free || !o->phys_to_virt || !o->alloc || !o->free)
        return VC_EINVAL;
    /* Locks come as a set: a create without its acquire would crash later. */
    if (o->lock_create &&
        (!o->lock_acquire || !o->lock_release || !o->lock_destroy))
        return VC_EINVAL;
    return 0;
}

void vc_log(const struct vc_host *h, enum vc_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!h->ops->log)
        return;
    va_start(ap, fmt);
    h->ops->log(h->cookie, level, fmt, ap);
    va_end(ap);
}

/* ---- lock-order checker ------------------------------------------------ */

bool vc_lock_order_checking(void)
{
    return VC_HAVE_LOCKDEP != 0;
}

int vc_lock_order_acquire(struct vc_lock_tracker *t, unsigned int lock_class)
{
    int rc = 0;

    if (t->depth >= VC_LOCK_TRACKER_DEPTH)
        return VC_EOVERFLOW;
    if (lock_class != VC_LOCK_CLASS_NONE) {
        /* The order is total over the held set, so checking the highest
         * class held suffices; classes are pushed in increasing order when
         * the order is respected, but a violation may have pushed out of
         * order, so scan. */
        for (unsigned int i = 0; i < t->depth; i++) {
            if (t->classes[i] >= lock_class) {
                t->violations++;
                t->last_held = t->classes[i];
                t->last_wanted = lock_class;
                rc = VC_ELOCKORDER;
                break;
            }
        }
    }
    t->classes[t->depth++] = lock_class;
    return rc;
}

int vc_lock_order_release(struct vc_lock_tracker *t, unsigned int lock_class)
{
    for (unsigned int i = t->depth; i-- > 0;) {
        if (t->classes[i] == lock_class) {
            vc_memmove(&t->classes[i], &t->classes[i + 1],
                       (t->depth - i - 1) * sizeof(t->classes[0]));
            t->depth--;
            return 0;
        }
    }
    return VC_ENOENT;
}

/* ---- locks through the host --------------------------------------------- */

int vc_lock_init(const struct vc_host *h, struct vc_lock *l, unsigned int lock_class)
{
    l->lock_class = lock_class;
    l->handle = NULL;
    if (!h->ops->lock_create)
        return 0;
    l->handle = h->ops->lock_create(h->cookie, lock_class);
    return l->handle ? 0 : VC_ENOMEM;
}

void vc_lock_fini(const struct vc_host *h, struct vc_lock *l)
{
    if (l->handle)
        h->ops->lock_destroy(h->cookie, l->handle);
    l->handle = NULL;
}

#if VC_HAVE_LOCKDEP
static struct vc_lock_tracker *tracker(const struct vc_host *h)
{
    return h->ops->lock_tracker ? h->ops->lock_tracker(h->cookie) : NULL;
}
#endif

void vc_lock_acquire(const struct vc_host *h, struct vc_lock *l)
{
#if VC_HAVE_LOCKDEP
    struct vc_lock_tracker *t = tracker(h);

    if (t) {
        int rc = vc_lock_order_acquire(t, l->lock_class);
        if (rc == VC_ELOCKORDER)
            vc_log(h, VC_LOG_ERROR,
                   "virtcore: lock order violation: class %u taken while holding %u",
                   l->lock_class, t->last_held);
        else if (rc)
            vc_log(h, VC_LOG_ERROR, "virtcore: lock nesting deeper than %u",
                   (unsigned int)VC_LOCK_TRACKER_DEPTH);
    }
#endif
    if (l->handle)
        h->ops->lock_acquire(h->cookie, l->handle);
}

void vc_lock_release(const struct vc_host *h, struct vc_lock *l)
{
    if (l->handle)
        h->ops->lock_release(h->cookie, l->handle);
#if VC_HAVE_LOCKDEP
    {
        struct vc_lock_tracker *t = tracker(h);
        if (t && vc_lock_order_release(t, l->lock_class))
            vc_log(h, VC_LOG_ERROR, "virtcore: released lock class %u not held",
                   l->lock_class);
    }
#endif
}
