/* SPDX-License-Identifier: MIT */
/*
 * Embedding libvirtcore without the hosted layer, the way a hypervisor does:
 * the host ops below hand out memory from static pools (no malloc), use the
 * pool's index as a fake physical address, and log through a callback.
 * Build: it is built with the project; run ./build/examples/custom-host.
 */
#include <stdio.h>
#include <string.h>
#include <virtcore/virtcore.h>

#define POOL_PAGES 16
#define OBJ_BYTES 4096

static _Alignas(4096) unsigned char pages[POOL_PAGES][4096];
static unsigned char page_used[POOL_PAGES];
static _Alignas(16) unsigned char objs[OBJ_BYTES];
static size_t obj_top;

#define PHYS_BASE 0x80000000u /* where our "RAM" for tables starts */

static void *pt_alloc(void *cookie, size_t size, size_t align, vc_paddr_t *pa)
{
    (void)cookie;
    if (size != 4096 || align > 4096)
        return NULL; /* this tiny host only has single pages */
    for (int i = 0; i < POOL_PAGES; i++) {
        if (!page_used[i]) {
            page_used[i] = 1;
            memset(pages[i], 0, 4096);
            *pa = vc_paddr(PHYS_BASE + (uint64_t)i * 4096);
            return pages[i];
        }
    }
    return NULL;
}

static void pt_free(void *cookie, void *va, vc_paddr_t pa, size_t size)
{
    (void)cookie, (void)va, (void)size;
    page_used[(vc_paddr_x(pa) - PHYS_BASE) / 4096] = 0;
}

static void *phys_to_virt(void *cookie, vc_paddr_t pa)
{
    uint64_t i = (vc_paddr_x(pa) - PHYS_BASE) / 4096;
    (void)cookie;
    if (vc_paddr_x(pa) < PHYS_BASE || i >= POOL_PAGES || !page_used[i])
        return NULL;
    return pages[i] + vc_paddr_x(pa) % 4096;
}

/* A bump allocator: free() is a no-op, enough for a short-lived example. */
static void *obj_alloc(void *cookie, size_t size)
{
    void *p;
    (void)cookie;
    size = (size + 15) & ~(size_t)15;
    if (size > OBJ_BYTES - obj_top)
        return NULL;
    p = objs + obj_top;
    obj_top += size;
    memset(p, 0, size);
    return p;
}

static void obj_free(void *cookie, void *p, size_t size)
{
    (void)cookie, (void)p, (void)size;
}

static void log_cb(void *cookie, enum vc_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

static void log_cb(void *cookie, enum vc_log_level level, const char *fmt, va_list ap)
{
    (void)cookie;
    fprintf(stderr, "[virtcore %d] ", (int)level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static const struct vc_host_ops my_ops = {
    .pt_alloc = pt_alloc,
    .pt_free = pt_free,
    .phys_to_virt = phys_to_virt,
    .alloc = obj_alloc,
    .free = obj_free,
    .log = log_cb, /* no locks: this host is single-threaded */
};

int main(void)
{
    struct vc_host host = {&my_ops, NULL};
    struct vc_cpumask *vcpus;
    char list[64];
    int rc;

    if ((rc = vc_host_check(&host)) != 0) {
        fprintf(stderr, "host ops incomplete: %s\n", vc_strerror(rc));
        return 1;
    }
    rc = vc_cpumask_create(&host, 128, &vcpus);
    if (rc) {
        fprintf(stderr, "cpumask: %s\n", vc_strerror(rc));
        return 1;
    }
    vc_cpumask_parse(vcpus, "0-3,64");
    vc_cpumask_format(vcpus, list, sizeof(list));
    printf("vCPUs running the guest: %s\n", list);
    vc_cpumask_destroy(vcpus);
    printf("object pool used: %zu bytes, no malloc\n", obj_top);
    return 0;
}
