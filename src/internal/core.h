/* SPDX-License-Identifier: MIT */
/*
 * Private helpers shared by every module. Never installed.
 *
 * The library proper is freestanding: it includes only <stdint.h>,
 * <stddef.h>, <stdbool.h>, <stdarg.h> and <limits.h>, and the only C
 * library functions it may call are memcpy, memmove, memset and memcmp,
 * reached through the builtins below (the compiler may inline them or emit
 * a call to the plain symbol).
 */
#ifndef VIRTCORE_INTERNAL_CORE_H
#define VIRTCORE_INTERNAL_CORE_H

#include <limits.h>
#include <stdarg.h>
#include <virtcore/error.h>
#include <virtcore/host.h>
#include <virtcore/types.h>

#define vc_memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define vc_memmove(d, s, n) __builtin_memmove((d), (s), (n))
#define vc_memset(d, c, n) __builtin_memset((d), (c), (n))
#define vc_memcmp(a, b, n) __builtin_memcmp((a), (b), (n))

#define VC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define vc_container_of(ptr, type, member)                                  \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define VC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VC_UNUSED __attribute__((unused))
#define VC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define vc_likely(x) __builtin_expect(!!(x), 1)
#define vc_unlikely(x) __builtin_expect(!!(x), 0)

/* Population count without a libgcc call (__popcountdi2 would break the
 * freestanding symbol contract on targets without a popcount insn). */
static inline unsigned int vc_popcount64(uint64_t x)
{
    x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
    x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
    return (unsigned int)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/* A spin-wait hint (x86 PAUSE, ARM YIELD), nothing elsewhere. */
static inline void vc_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

/* Index of the lowest set bit; x must be non-zero. */
static inline unsigned int vc_ctz64(uint64_t x)
{
    return (unsigned int)__builtin_ctzll(x);
}

/* ---- host op wrappers ---------------------------------------------------- */

static inline void *vc_host_alloc(const struct vc_host *h, size_t size)
{
    return h->ops->alloc(h->cookie, size);
}

static inline void vc_host_free(const struct vc_host *h, void *p, size_t size)
{
    if (p)
        h->ops->free(h->cookie, p, size);
}

void vc_log(const struct vc_host *h, enum vc_log_level level, const char *fmt, ...)
    VC_PRINTF(3, 4);

/* A lock taken through the host, with its class for the order checker.
 * Without lock ops in the host, the lock is a no-op and the caller
 * serialises (documented per object). */
struct vc_lock {
    void *handle;
    unsigned int lock_class;
};

int vc_lock_init(const struct vc_host *h, struct vc_lock *l, unsigned int lock_class);
void vc_lock_fini(const struct vc_host *h, struct vc_lock *l);
void vc_lock_acquire(const struct vc_host *h, struct vc_lock *l);
void vc_lock_release(const struct vc_host *h, struct vc_lock *l);

#endif /* VIRTCORE_INTERNAL_CORE_H */
