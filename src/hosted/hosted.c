/* SPDX-License-Identifier: MIT */
/*
 * Default host ops for userspace.
 *
 * Page-table pages come from one arena reserved with mmap(MAP_NORESERVE), so
 * untouched pages cost nothing. A block's fake physical address is its
 * offset in the arena plus phys_base; phys_to_virt() is arithmetic checked
 * against a per-4K-page liveness bitmap, so a stray physical address is
 * refused instead of followed.
 *
 * Allocation: power-of-two blocks, naturally aligned, from per-size free
 * lists, else from a bump pointer. Freed blocks are not coalesced (page-table
 * sizes are few and recur); they are zeroed and stay resident on their free
 * list, so the arena's resident size is the peak of page-table memory and
 * reuse costs no page fault.
 */
#define _GNU_SOURCE
#include <virtcore/hosted.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "internal/core.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define MIN_ORDER 12 /* 4 KiB */
#define MAX_ORDER 30 /* 1 GiB: far above any page-table allocation */

struct free_block {
    struct free_block *next;
};

struct vc_hosted {
    struct vc_host host;
    struct vc_hosted_config cfg;
    pthread_mutex_t lock; /* arena and counters */
    uint8_t *arena;
    uint64_t bump;        /* next unused arena offset */
    uint64_t *live;       /* bit per 4K page: allocated */
    struct free_block *free_lists[MAX_ORDER + 1];
    struct vc_hosted_stats st;
};

static _Thread_local struct vc_lock_tracker thread_tracker;

static unsigned int order_of(size_t size)
{
    unsigned int o = MIN_ORDER;
    while (((size_t)1 << o) < size)
        o++;
    return o;
}

static void mark(struct vc_hosted *h, uint64_t off, uint64_t size, bool on)
{
    for (uint64_t p = off >> 12; p < (off + size) >> 12; p++) {
        if (on)
            h->live[p / 64] |= UINT64_C(1) << (p % 64);
        else
            h->live[p / 64] &= ~(UINT64_C(1) << (p % 64));
    }
}

static bool is_live(struct vc_hosted *h, uint64_t off)
{
    uint64_t p = off >> 12;
    return (h->live[p / 64] >> (p % 64)) & 1;
}

static void *pt_alloc(void *cookie, size_t size, size_t align, vc_paddr_t *pa)
{
    struct vc_hosted *h = cookie;
    unsigned int order;
    uint64_t bsize, off;
    void *va = NULL;

    if (size == 0 || align == 0 || (align & (align - 1)) || align > ((size_t)1 << MAX_ORDER))
        return NULL;
    order = order_of(VC_MAX(size, align));
    if (order > MAX_ORDER)
        return NULL;
    bsize = UINT64_C(1) << order;

    pthread_mutex_lock(&h->lock);
    if (h->free_lists[order]) {
        struct free_block *b = h->free_lists[order];
        h->free_lists[order] = b->next;
        b->next = NULL; /* the rest of the block was zeroed by pt_free() */
        va = b;
        off = (uint64_t)((uint8_t *)va - h->arena);
    } else {
        off = (h->bump + bsize - 1) & ~(bsize - 1);
        if (off + bsize <= h->cfg.arena_size) {
            h->bump = off + bsize;
            va = h->arena + off;
        }
    }
    if (va) {
        mark(h, off, bsize, true);
        h->st.pt_allocs++;
        h->st.pt_live_bytes += bsize;
        if (h->st.pt_live_bytes > h->st.pt_peak_bytes)
            h->st.pt_peak_bytes = h->st.pt_live_bytes;
        *pa = vc_paddr(h->cfg.phys_base + off);
    }
    pthread_mutex_unlock(&h->lock);
    return va;
}

static void pt_free(void *cookie, void *va, vc_paddr_t pa, size_t size)
{
    struct vc_hosted *h = cookie;
    unsigned int order = order_of(size);
    uint64_t off = (uint64_t)((uint8_t *)va - h->arena);
    uint64_t bsize = UINT64_C(1) << order;

    (void)pa;
    memset(va, 0, bsize); /* pt_alloc() hands out zeroed blocks */
    pthread_mutex_lock(&h->lock);
    mark(h, off, bsize, false);
    ((struct free_block *)va)->next = h->free_lists[order];
    h->free_lists[order] = va;
    h->st.pt_frees++;
    h->st.pt_live_bytes -= bsize;
    pthread_mutex_unlock(&h->lock);
}

static void *phys_to_virt(void *cookie, vc_paddr_t pa)
{
    struct vc_hosted *h = cookie;
    uint64_t a = vc_paddr_x(pa);
    void *va = NULL;

    if (a < h->cfg.phys_base || a - h->cfg.phys_base >= h->cfg.arena_size)
        return NULL;
    pthread_mutex_lock(&h->lock);
    if (is_live(h, a - h->cfg.phys_base))
        va = h->arena + (a - h->cfg.phys_base);
    pthread_mutex_unlock(&h->lock);
    return va;
}

static bool direct_map(void *cookie, intptr_t *offset)
{
    struct vc_hosted *h = cookie;

    /* The arena is one linear mapping of [phys_base, phys_base + size). */
    *offset = (intptr_t)h->arena - (intptr_t)h->cfg.phys_base;
    return true;
}

static void *obj_alloc(void *cookie, size_t size)
{
    struct vc_hosted *h = cookie;
    void *p = calloc(1, size ? size : 1);

    if (p) {
        pthread_mutex_lock(&h->lock);
        h->st.obj_live++;
        pthread_mutex_unlock(&h->lock);
    }
    return p;
}

static void obj_free(void *cookie, void *p, size_t size)
{
    struct vc_hosted *h = cookie;

    (void)size;
    free(p);
    pthread_mutex_lock(&h->lock);
    h->st.obj_live--;
    pthread_mutex_unlock(&h->lock);
}

static void *lock_create(void *cookie, unsigned int lock_class)
{
    pthread_mutex_t *m = malloc(sizeof(*m));

    (void)cookie;
    (void)lock_class;
    if (m && pthread_mutex_init(m, NULL) != 0) {
        free(m);
        m = NULL;
    }
    return m;
}

static void lock_acquire(void *cookie, void *lock)
{
    (void)cookie;
    pthread_mutex_lock(lock);
}

static void lock_release(void *cookie, void *lock)
{
    (void)cookie;
    pthread_mutex_unlock(lock);
}

static void lock_destroy(void *cookie, void *lock)
{
    (void)cookie;
    pthread_mutex_destroy(lock);
    free(lock);
}

static struct vc_lock_tracker *lock_tracker(void *cookie)
{
    (void)cookie;
    return &thread_tracker;
}

static void log_msg(void *cookie, enum vc_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

static void log_msg(void *cookie, enum vc_log_level level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    struct vc_hosted *h = cookie;

    pthread_mutex_lock(&h->lock);
    h->st.log_messages++;
    pthread_mutex_unlock(&h->lock);
    if (h->cfg.quiet || level > h->cfg.log_level)
        return;
    flockfile(stderr);
    fprintf(stderr, "virtcore %s: ", (unsigned int)level < 4 ? names[level] : "?");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

static uint64_t now_ns(void *cookie)
{
    struct timespec ts;

    (void)cookie;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t read_tsc(void *cookie)
{
#if defined(__x86_64__) || defined(__i386__)
    (void)cookie;
    return __rdtsc();
#else
    return now_ns(cookie);
#endif
}

static const struct vc_host_ops hosted_ops = {
    .pt_alloc = pt_alloc,
    .pt_free = pt_free,
    .phys_to_virt = phys_to_virt,
    .direct_map = direct_map,
    .alloc = obj_alloc,
    .free = obj_free,
    .lock_create = lock_create,
    .lock_acquire = lock_acquire,
    .lock_release = lock_release,
    .lock_destroy = lock_destroy,
    .lock_tracker = lock_tracker,
    .log = log_msg,
    .now_ns = now_ns,
    .read_tsc = read_tsc,
};

int vc_hosted_create(const struct vc_hosted_config *cfg, struct vc_hosted **out)
{
    struct vc_hosted *h;
    struct vc_hosted_config c = {0};

    if (!out)
        return VC_EINVAL;
    if (cfg)
        c = *cfg;
    if (!c.phys_base)
        c.phys_base = 4 * GIB;
    if (!c.arena_size)
        c.arena_size = 64 * GIB;
    if (!cfg)
        c.log_level = VC_LOG_WARN;
    if ((c.phys_base % MIB) || (c.arena_size % MIB) || c.log_level > VC_LOG_DEBUG ||
        c.phys_base >= (UINT64_C(1) << 52) ||
        c.arena_size > (UINT64_C(1) << 52) - c.phys_base)
        return VC_EINVAL;

    h = calloc(1, sizeof(*h));
    if (!h)
        return VC_ENOMEM;
    h->cfg = c;
    h->live = calloc(c.arena_size / VC_FRAME_SIZE / 64, sizeof(uint64_t));
    h->arena = mmap(NULL, c.arena_size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!h->live || h->arena == MAP_FAILED) {
        if (h->arena != MAP_FAILED)
            munmap(h->arena, c.arena_size);
        free(h->live);
        free(h);
        return VC_ENOMEM;
    }
    pthread_mutex_init(&h->lock, NULL);
    h->host.ops = &hosted_ops;
    h->host.cookie = h;
    *out = h;
    return 0;
}

void vc_hosted_destroy(struct vc_hosted *h)
{
    if (!h)
        return;
    if (h->st.pt_live_bytes || h->st.obj_live)
        vc_log(&h->host, VC_LOG_WARN,
               "hosted: destroyed with %llu page-table bytes and %llu objects live",
               (unsigned long long)h->st.pt_live_bytes, (unsigned long long)h->st.obj_live);
    munmap(h->arena, h->cfg.arena_size);
    free(h->live);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

const struct vc_host *vc_hosted_host(struct vc_hosted *h)
{
    return &h->host;
}

void vc_hosted_stats(struct vc_hosted *h, struct vc_hosted_stats *st)
{
    pthread_mutex_lock(&h->lock);
    *st = h->st;
    pthread_mutex_unlock(&h->lock);
}
