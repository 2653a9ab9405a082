/* SPDX-License-Identifier: MIT */
#include "testhost.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <virtcore/error.h>
#include <virtcore/hosted.h>

enum kind { K_PAGE = 1, K_OBJ = 2, K_LOCK = 3 };

struct slot {
    void *p; /* NULL: empty; TOMB: deleted */
    size_t size;
    enum kind kind;
};

#define TOMB ((void *)1)

struct testhost {
    struct vc_host host;
    struct vc_hosted *hosted;
    const struct vc_host *inner;
    pthread_mutex_t lock;
    struct slot *slots;
    size_t cap, used, live[4];
    unsigned long attempts, fail_at, errors, logs[4];
    bool injected, verbose, no_direct_map;
    char last_error[160];
};

static size_t hash(const void *p, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

static void error(struct testhost *t, const char *msg, const void *p)
{
    t->errors++;
    snprintf(t->last_error, sizeof(t->last_error), "%s (%p)", msg, p);
    if (t->verbose)
        fprintf(stderr, "testhost: %s\n", t->last_error);
}

static void grow(struct testhost *t)
{
    struct slot *old = t->slots;
    size_t oldcap = t->cap;

    t->cap = oldcap ? oldcap * 2 : 1024;
    t->slots = calloc(t->cap, sizeof(*t->slots));
    if (!t->slots)
        abort();
    t->used = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].p && old[i].p != TOMB) {
            size_t h = hash(old[i].p, t->cap);
            while (t->slots[h].p)
                h = (h + 1) & (t->cap - 1);
            t->slots[h] = old[i];
            t->used++;
        }
    }
    free(old);
}

static void record(struct testhost *t, void *p, size_t size, enum kind k)
{
    size_t h;

    if ((t->used + 1) * 2 > t->cap)
        grow(t);
    h = hash(p, t->cap);
    while (t->slots[h].p && t->slots[h].p != TOMB)
        h = (h + 1) & (t->cap - 1);
    if (!t->slots[h].p)
        t->used++;
    t->slots[h].p = p;
    t->slots[h].size = size;
    t->slots[h].kind = k;
    t->live[k]++;
}

static struct slot *find(struct testhost *t, const void *p)
{
    size_t h;

    if (!t->cap)
        return NULL;
    h = hash(p, t->cap);
    while (t->slots[h].p) {
        if (t->slots[h].p == p)
            return &t->slots[h];
        h = (h + 1) & (t->cap - 1);
    }
    return NULL;
}

/* Remove a record; false (and an error) if it is not there as expected. */
static bool forget(struct testhost *t, void *p, size_t size, enum kind k)
{
    struct slot *s = find(t, p);

    if (!s) {
        error(t, "free of an unknown or already freed pointer", p);
        return false;
    }
    if (s->kind != k) {
        error(t, "free through the wrong op", p);
        return false;
    }
    if (k != K_LOCK && s->size != size) {
        error(t, "free with a size different from the allocation", p);
        return false;
    }
    s->p = TOMB;
    t->live[k]--;
    return true;
}

/* Count an attempt; true if this one must fail. Caller holds the lock. */
static bool should_fail(struct testhost *t)
{
    t->attempts++;
    if (t->fail_at && t->attempts == t->fail_at) {
        t->injected = true;
        return true;
    }
    return false;
}

static void *pt_alloc(void *cookie, size_t size, size_t align, vc_paddr_t *pa)
{
    struct testhost *t = cookie;
    void *p = NULL;

    pthread_mutex_lock(&t->lock);
    if (!should_fail(t)) {
        p = t->inner->ops->pt_alloc(t->inner->cookie, size, align, pa);
        if (p)
            record(t, p, size, K_PAGE);
    }
    pthread_mutex_unlock(&t->lock);
    return p;
}

static void pt_free(void *cookie, void *va, vc_paddr_t pa, size_t size)
{
    struct testhost *t = cookie;
    bool ok;

    pthread_mutex_lock(&t->lock);
    ok = forget(t, va, size, K_PAGE);
    pthread_mutex_unlock(&t->lock);
    if (ok)
        t->inner->ops->pt_free(t->inner->cookie, va, pa, size);
}

static void *phys_to_virt(void *cookie, vc_paddr_t pa)
{
    struct testhost *t = cookie;
    void *va = t->inner->ops->phys_to_virt(t->inner->cookie, pa);

    if (!va) {
        pthread_mutex_lock(&t->lock);
        error(t, "phys_to_virt of an address that is not a live page", NULL);
        pthread_mutex_unlock(&t->lock);
    }
    return va;
}

static bool direct_map(void *cookie, intptr_t *offset)
{
    struct testhost *t = cookie;

    if (t->no_direct_map)
        return false;
    return t->inner->ops->direct_map(t->inner->cookie, offset);
}

static void *obj_alloc(void *cookie, size_t size)
{
    struct testhost *t = cookie;
    void *p = NULL;

    pthread_mutex_lock(&t->lock);
    if (!should_fail(t)) {
        p = calloc(1, size ? size : 1);
        if (p)
            record(t, p, size, K_OBJ);
    }
    pthread_mutex_unlock(&t->lock);
    return p;
}

static void obj_free(void *cookie, void *p, size_t size)
{
    struct testhost *t = cookie;
    bool ok;

    pthread_mutex_lock(&t->lock);
    ok = forget(t, p, size, K_OBJ);
    pthread_mutex_unlock(&t->lock);
    if (ok)
        free(p);
}

static void *lock_create(void *cookie, unsigned int lock_class)
{
    struct testhost *t = cookie;
    void *l = NULL;

    pthread_mutex_lock(&t->lock);
    if (!should_fail(t)) {
        l = t->inner->ops->lock_create(t->inner->cookie, lock_class);
        if (l)
            record(t, l, 0, K_LOCK);
    }
    pthread_mutex_unlock(&t->lock);
    return l;
}

static void lock_acquire(void *cookie, void *l)
{
    struct testhost *t = cookie;
    t->inner->ops->lock_acquire(t->inner->cookie, l);
}

static void lock_release(void *cookie, void *l)
{
    struct testhost *t = cookie;
    t->inner->ops->lock_release(t->inner->cookie, l);
}

static void lock_destroy(void *cookie, void *l)
{
    struct testhost *t = cookie;
    bool ok;

    pthread_mutex_lock(&t->lock);
    ok = forget(t, l, 0, K_LOCK);
    pthread_mutex_unlock(&t->lock);
    if (ok)
        t->inner->ops->lock_destroy(t->inner->cookie, l);
}

static struct vc_lock_tracker *lock_tracker(void *cookie)
{
    struct testhost *t = cookie;
    return t->inner->ops->lock_tracker(t->inner->cookie);
}

static void log_msg(void *cookie, enum vc_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

static void log_msg(void *cookie, enum vc_log_level level, const char *fmt, va_list ap)
{
    struct testhost *t = cookie;

    pthread_mutex_lock(&t->lock);
    if ((unsigned int)level < 4)
        t->logs[level]++;
    pthread_mutex_unlock(&t->lock);
    if (t->verbose) {
        fprintf(stderr, "testhost log[%d]: ", (int)level);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
}

static uint64_t now_ns(void *cookie)
{
    struct testhost *t = cookie;
    return t->inner->ops->now_ns(t->inner->cookie);
}

static uint64_t read_tsc(void *cookie)
{
    struct testhost *t = cookie;
    return t->inner->ops->read_tsc(t->inner->cookie);
}

static const struct vc_host_ops testhost_ops = {
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

struct testhost *testhost_new(void)
{
    struct testhost *t = calloc(1, sizeof(*t));
    struct vc_hosted_config cfg = {.arena_size = UINT64_C(16) << 30, .quiet = true};

    if (!t || vc_hosted_create(&cfg, &t->hosted) != 0)
        abort();
    t->inner = vc_hosted_host(t->hosted);
    pthread_mutex_init(&t->lock, NULL);
    t->host.ops = &testhost_ops;
    t->host.cookie = t;
    return t;
}

void testhost_free(struct testhost *t)
{
    if (!t)
        return;
    /* Release what the code under test leaked so one failing test does not
     * cascade; the leak itself was reported through testhost_live(). */
    for (size_t i = 0; i < t->cap; i++) {
        struct slot *s = &t->slots[i];
        if (!s->p || s->p == TOMB)
            continue;
        if (s->kind == K_OBJ)
            free(s->p);
        else if (s->kind == K_LOCK)
            t->inner->ops->lock_destroy(t->inner->cookie, s->p);
    }
    vc_hosted_destroy(t->hosted); /* releases leaked pages with the arena */
    free(t->slots);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

const struct vc_host *testhost_host(struct testhost *t)
{
    return &t->host;
}

void testhost_fail_nth(struct testhost *t, unsigned long n)
{
    pthread_mutex_lock(&t->lock);
    t->fail_at = n ? t->attempts + n : 0;
    t->injected = false;
    pthread_mutex_unlock(&t->lock);
}

bool testhost_injected(const struct testhost *t)
{
    return t->injected;
}

unsigned long testhost_attempts(const struct testhost *t)
{
    return t->attempts;
}

size_t testhost_live(const struct testhost *t)
{
    return t->live[K_PAGE] + t->live[K_OBJ] + t->live[K_LOCK];
}

size_t testhost_live_pages(const struct testhost *t)
{
    return t->live[K_PAGE];
}

size_t testhost_live_objects(const struct testhost *t)
{
    return t->live[K_OBJ];
}

size_t testhost_live_locks(const struct testhost *t)
{
    return t->live[K_LOCK];
}

unsigned long testhost_errors(const struct testhost *t)
{
    return t->errors;
}

const char *testhost_last_error(const struct testhost *t)
{
    return t->errors ? t->last_error : "";
}

unsigned long testhost_logs(const struct testhost *t, unsigned int level)
{
    return level < 4 ? t->logs[level] : 0;
}

void testhost_set_verbose(struct testhost *t, bool on)
{
    t->verbose = on;
}

void testhost_set_direct_map(struct testhost *t, bool on)
{
    t->no_direct_map = !on;
}
