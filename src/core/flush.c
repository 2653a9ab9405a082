/* SPDX-License-Identifier: MIT */
/* The flush-request accumulator. */
#include <virtcore/flush.h>

#include "internal/core.h"

void vc_flush_init(struct vc_flush *f)
{
    vc_memset(f, 0, sizeof(*f));
}

static void raise_kind(struct vc_flush *f, enum vc_flush_kind kind)
{
    if (kind > f->kind)
        f->kind = kind;
}

/* Insert [start, end) keeping ranges sorted, disjoint and non-adjacent. */
static void insert_range(struct vc_flush *f, uint64_t start, uint64_t end)
{
    struct vc_flush_range tmp[VC_FLUSH_MAX_RANGES + 1];
    unsigned int n = 0, i = 0;

    /* Ranges entirely before the new one (with a gap) stay as they are. */
    while (i < f->nr_ranges && f->ranges[i].end < start)
        tmp[n++] = f->ranges[i++];
    /* Ranges that overlap or touch the new one are absorbed into it. */
    while (i < f->nr_ranges && f->ranges[i].start <= end) {
        start = VC_MIN(start, f->ranges[i].start);
        end = VC_MAX(end, f->ranges[i].end);
        i++;
    }
    tmp[n].start = start;
    tmp[n].end = end;
    n++;
    while (i < f->nr_ranges)
        tmp[n++] = f->ranges[i++];

    if (n > VC_FLUSH_MAX_RANGES) {
        /* Over capacity: join the pair with the smallest gap. Flushing the
         * gap too is an over-approximation, which is always safe. */
        unsigned int best = 0;
        uint64_t best_gap = UINT64_MAX;
        for (unsigned int k = 0; k + 1 < n; k++) {
            uint64_t gap = tmp[k + 1].start - tmp[k].end;
            if (gap < best_gap) {
                best_gap = gap;
                best = k;
            }
        }
        tmp[best].end = tmp[best + 1].end;
        vc_memmove(&tmp[best + 1], &tmp[best + 2], (n - best - 2) * sizeof(tmp[0]));
        n--;
    }
    vc_memcpy(f->ranges, tmp, n * sizeof(tmp[0]));
    f->nr_ranges = n;
}

void vc_flush_add(struct vc_flush *f, enum vc_flush_kind kind, uint64_t start,
                  uint64_t count)
{
    uint64_t end;

    if (kind == VC_FLUSH_NONE || count == 0)
        return;
    raise_kind(f, kind);
    if (f->whole)
        return;
    end = start + count;
    if (end < start)
        end = UINT64_MAX; /* clamp a wrapping range to the end of the space */
    insert_range(f, start, end);
}

void vc_flush_add_all(struct vc_flush *f, enum vc_flush_kind kind)
{
    if (kind == VC_FLUSH_NONE)
        return;
    raise_kind(f, kind);
    f->whole = true;
    f->nr_ranges = 0;
}

void vc_flush_defer_free(struct vc_flush *f, struct vc_deferred_free *node)
{
    /* Append, so releases happen in deferral order. */
    node->next = NULL;
    if (f->deferred_last)
        f->deferred_last->next = node;
    else
        f->deferred = node;
    f->deferred_last = node;
    f->nr_deferred++;
    raise_kind(f, VC_FLUSH_STRUCTURAL);
}

void vc_flush_merge(struct vc_flush *dst, struct vc_flush *src)
{
    if (src->whole)
        vc_flush_add_all(dst, src->kind);
    else
        for (unsigned int i = 0; i < src->nr_ranges; i++)
            vc_flush_add(dst, src->kind, src->ranges[i].start,
                         src->ranges[i].end - src->ranges[i].start);
    raise_kind(dst, src->kind);
    if (src->deferred) {
        if (dst->deferred_last)
            dst->deferred_last->next = src->deferred;
        else
            dst->deferred = src->deferred;
        dst->deferred_last = src->deferred_last;
        dst->nr_deferred += src->nr_deferred;
    }
    vc_flush_init(src);
}

bool vc_flush_required(const struct vc_flush *f)
{
    return f->kind >= VC_FLUSH_MODIFIED || f->deferred != NULL;
}

bool vc_flush_covers(const struct vc_flush *f, uint64_t frame)
{
    if (f->kind == VC_FLUSH_NONE)
        return false;
    if (f->whole)
        return true;
    for (unsigned int i = 0; i < f->nr_ranges; i++)
        if (frame >= f->ranges[i].start && frame < f->ranges[i].end)
            return true;
    return false;
}

void vc_flush_complete(struct vc_flush *f)
{
    struct vc_deferred_free *n = f->deferred;

    vc_flush_init(f);
    while (n) {
        struct vc_deferred_free *next = n->next;
        n->release(n);
        n = next;
    }
}

const char *vc_flush_kind_name(enum vc_flush_kind kind)
{
    switch (kind) {
    case VC_FLUSH_NONE:
        return "none";
    case VC_FLUSH_ADDED:
        return "added";
    case VC_FLUSH_MODIFIED:
        return "modified";
    case VC_FLUSH_STRUCTURAL:
        return "structural";
    }
    return "?";
}
