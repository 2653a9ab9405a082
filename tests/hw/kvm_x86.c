/* SPDX-License-Identifier: MIT */
/*
 * Real-hardware check of the p2m engine's x86-64 format.
 *
 * The tables a p2m of format VC_P2M_FMT_X86_64 builds are the 4-level
 * long-mode page tables of a KVM guest: its page-table pages are allocated
 * from the guest's own RAM and CR3 is vc_p2m_hw_pointer(). The p2m's "gfn"
 * is therefore a guest-virtual page number and its "mfn" a guest-physical
 * frame (the stage-1 long-mode format is the one AMD NPT uses). A tiny
 * hand-assembled guest reads, writes and executes through 4K, 2M and 1G
 * leaves, read-only, no-execute, no-access and unmapped pages, and reports
 * every value, page-fault address and error code on I/O ports. The host
 * compares each report with what vc_p2m_lookup() says: a read must return
 * the content of guest-physical address lookup.mfn * 4096 + offset, a write
 * must land there, and an access the entry's hw_perms do not allow must
 * raise #PF with the matching error code. A host-side walker written from
 * the SDM (independent of the library's decoder) cross-checks the raw
 * entries, and afterwards confirms that the CPU set the accessed and dirty
 * flags in exactly those entries; the library must still read its tables
 * back (lookup, audit) with those hardware-owned bits set.
 *
 * Phase 2 changes the tables while the guest is halted (split a 2M leaf,
 * remap a page, unmap the 1G leaf, which frees its table, change a type),
 * has the guest reload CR3, only then completes the flush (the host's
 * pt_free() fails the test if a table is freed earlier), and checks the new
 * translations. Phase 3 loads a second p2m created with VC_FMT_F_NO_1G,
 * where the same order-18 vc_p2m_set_entry() is built from 2M leaves.
 *
 * Where KVM offers no 1 GiB pages (CPUID Page1GB clear, as under shadow
 * paging without it), PS in a PDPTE is a reserved bit: accesses through the
 * 1G leaf must then raise #PF with P and RSVD set, which still shows that
 * the CPU found the library's 1G leaf where it looks for one; the 1G range
 * is read through the 2M leaves of phase 3.
 *
 * Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm, or KVM guests
 * without long mode or NX).
 *
 * References: Intel SDM vol 3A ("SDM"), AMD APM vol 2 ("APM"), Intel SDM
 * vol 2 for instruction encodings.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <virtcore/error.h>
#include <virtcore/flush.h>
#include <virtcore/host.h>
#include <virtcore/p2m.h>

#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_SKIP 77 /* meson's "skipped" exit code */

#define PAGE_SIZE     4096u
#define MiB(x)        ((uint64_t)(x) << 20)
#define GiB(x)        ((uint64_t)(x) << 30)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- architectural constants ---------------------------------------------- */

/* CR0 (SDM 2.5, APM 3.1.1): protection, extension type, numeric error,
 * write protect (supervisor writes honour R/W: SDM 4.6.1), paging. */
#define CR0_PE (UINT64_C(1) << 0)
#define CR0_MP (UINT64_C(1) << 1)
#define CR0_ET (UINT64_C(1) << 4)
#define CR0_NE (UINT64_C(1) << 5)
#define CR0_WP (UINT64_C(1) << 16)
#define CR0_PG (UINT64_C(1) << 31)
/* CR4.PAE (SDM 2.5): required for 4-level paging (SDM 4.1.1). */
#define CR4_PAE (UINT64_C(1) << 5)
/* IA32_EFER (SDM 2.2.1, APM 3.1.7): long mode enable/active, no-execute
 * enable (without NXE bit 63 of a paging entry is reserved: SDM 4.5). */
#define EFER_LME (UINT64_C(1) << 8)
#define EFER_LMA (UINT64_C(1) << 10)
#define EFER_NXE (UINT64_C(1) << 11)
/* CR3 with 4-level paging, CR4.PCIDE = 0: bits M-1:12 are the PML4 address,
 * bits 3 and 4 are PWT and PCD, the rest reserved (SDM 4.5, "Use of CR3
 * with 4-level paging"). */
#define CR3_ADDR_MASK UINT64_C(0x000ffffffffff000)
#define CR3_PWT_PCD   UINT64_C(0x18)
/* RFLAGS bit 1 is reserved and always 1 (SDM vol 1 3.4.3). */
#define RFLAGS_FIXED UINT64_C(0x2)

/* 4-level paging entries (SDM 4.5, the PML4E/PDPTE/PDE/PTE format tables;
 * APM 5.3, 5.4). */
#define PTE_P  (UINT64_C(1) << 0)  /* present */
#define PTE_RW (UINT64_C(1) << 1)  /* writes allowed */
#define PTE_US (UINT64_C(1) << 2)  /* user accesses allowed */
#define PTE_A  (UINT64_C(1) << 5)  /* accessed: set by the CPU (SDM 4.8) */
#define PTE_D  (UINT64_C(1) << 6)  /* dirty, leaves only: set by the CPU */
#define PTE_PS (UINT64_C(1) << 7)  /* page size: PDPTE 1G / PDE 2M leaf */
#define PTE_XD (UINT64_C(1) << 63) /* execute-disable (with EFER.NXE) */

/* #PF error code (SDM 4.7 and 6.15 "Interrupt 14"; APM 8.4.2). */
#define PF_P    (1u << 0) /* 0: not present; 1: protection violation */
#define PF_W    (1u << 1) /* the access was a write */
#define PF_U    (1u << 2) /* the access was in user mode (CPL 3) */
#define PF_RSVD (1u << 3) /* a reserved bit was set in an entry */
#define PF_ID   (1u << 4) /* instruction fetch (with NXE or SMEP) */

/* Page fault (SDM table 6-1, "Protected-Mode Exceptions and Interrupts"). */
#define VEC_PF     14
#define NR_VECTORS 32 /* architecturally defined exceptions 0-31 */

/* CPUID (SDM vol 2A CPUID; APM vol 3 appendix E). */
#define CPUID_EXT_FEATURES    0x80000001u
#define CPUID_EXT_EDX_NX      (1u << 20)
#define CPUID_EXT_EDX_PAGE1GB (1u << 26)
#define CPUID_EXT_EDX_LM      (1u << 29)
#define CPUID_ADDR_SIZES      0x80000008u /* EAX[7:0] = MAXPHYADDR */

/* ---- guest layout ----------------------------------------------------------- */

/* Guest RAM: slot 0 at GPA 0, and a small slot at GPA 1 GiB that backs the
 * beginning of the 1G leaf (only its marker pages are ever touched). */
#define RAM_GPA   UINT64_C(0)
#define RAM_SIZE  MiB(8)
#define HIGH_GPA  GiB(1)
#define HIGH_SIZE MiB(4)

#define GDT_GPA        UINT64_C(0x1000) /* GDT; the TSS sits in its second half */
#define TSS_GPA        UINT64_C(0x1800)
#define IDT_GPA        UINT64_C(0x2000)
#define CODE_GPA       UINT64_C(0x3000) /* main program */
#define HANDLER_GPA    UINT64_C(0x4000) /* #PF handler and exception stubs */
#define STACK_GPA      UINT64_C(0x6000) /* two pages, grows down from 0x8000 */
#define STACK_TOP      UINT64_C(0x8000)
#define PT_POOL_GPA    UINT64_C(0x100000) /* page-table pages handed to the p2m */
#define PT_POOL_PAGES  256u
#define BLOCK2M_GPA    UINT64_C(0x400000) /* target of the 2M leaf */
#define PAGE4K_GPA     UINT64_C(0x7f3000)
#define PAGE_RO_GPA    UINT64_C(0x7f4000)
#define PAGE_NX_GPA    UINT64_C(0x7f5000)
#define PAGE_NOACC_GPA UINT64_C(0x7f6000)
#define PAGE_REMAP_GPA UINT64_C(0x7f7000) /* phase 2: new target of VA_4K */

/* Guest-virtual addresses (all in the lower canonical half: the p2m's input
 * space is [0, 2^48)). The markers' VAs differ from their GPAs so that a
 * table that ignored an index or an offset would read the wrong word. */
#define VA_2M    UINT64_C(0x0000004000600000) /* 2M leaf -> BLOCK2M_GPA */
#define VA_1G    UINT64_C(0x000000c000000000) /* 1G leaf -> HIGH_GPA */
#define VA_4K    UINT64_C(0x00007ffffffff000) /* index 511 at levels 0-2 */
#define VA_RO    UINT64_C(0x00007fffffffe000) /* read-only page */
#define VA_NOMAP UINT64_C(0x00007fffffffd000) /* empty PTE in a live table */
#define VA_NX    UINT64_C(0x00007fffffffc000) /* rw, no execute */
#define VA_NOACC UINT64_C(0x00007fffffffb000) /* mapped, access "n" */
#define VA_HOLE  UINT64_C(0x0000200000000000) /* empty PML4 entry */

#define OFF_2M      UINT64_C(0x5a018)  /* marker offset inside the 2M leaf */
#define OFF_2M_LAST UINT64_C(0x1ffff0) /* last words of the 2M leaf */
#define OFF_1G      UINT64_C(0x1ab238) /* inside the backed 4 MiB of the 1G leaf */
#define OFF_1G_2ND  UINT64_C(0x2c0de8) /* in its second 2 MiB */
#define OFF_4K      UINT64_C(0x7c0)
#define OFF_RO      UINT64_C(0x100)
#define OFF_NX      UINT64_C(0x3a8)
#define OFF_CODE    UINT64_C(0x800) /* where fetch steps find their stub */

/* Every word of guest RAM initially holds a tag and its own GPA, so any
 * value the guest reads says where it came from. */
#define PATTERN_TAG  UINT64_C(0x5643) /* "VC" */
#define PATTERN(gpa) ((PATTERN_TAG << 48) | (gpa))
#define STAMP(step)  (UINT64_C(0x57e1000000000000) | ((uint64_t)(step) << 32) | 0x5747u)

/* I/O ports of the guest's report protocol (all 32-bit `out`). */
#define PORT_VAL_LO     0x10 /* value read: low half */
#define PORT_VAL_HI     0x11 /* value read: high half, completes EV_VALUE */
#define PORT_DONE       0x13 /* a step finished without a fault: its index */
#define PORT_EXEC       0x14 /* a fetch step's stub ran */
#define PORT_CR2_LO     0x20 /* #PF handler: CR2 low half */
#define PORT_CR2_HI     0x21 /* CR2 high half */
#define PORT_PFEC       0x22 /* error code, completes EV_PF */
#define PORT_FLUSHED    0x30 /* phase 2: CR3 reloaded (TLB flushed) */
#define PORT_EXC_VEC    0x40 /* unexpected exception: vector */
#define PORT_EXC_TOS_LO 0x41 /* its top-of-stack word (error code or RIP) */
#define PORT_EXC_TOS_HI 0x42

#define MAX_EXITS   2000u /* KVM_RUN iterations per phase */
#define RUN_SECONDS 5u    /* wall-clock bound per phase */

/* ---- failure reporting ------------------------------------------------------ */

static unsigned int failures;
static unsigned int checks;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    va_list ap;

    fputs("FAIL: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("FAIL: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_FAIL);
}

__attribute__((format(printf, 1, 2), noreturn)) static void skip(const char *fmt, ...)
{
    va_list ap;

    fputs("SKIP: ", stdout);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    exit(EXIT_SKIP);
}

/* Count a check; report it if it failed. Returns cond. */
__attribute__((format(printf, 2, 3))) static bool check(bool cond, const char *fmt, ...)
{
    va_list ap;

    checks++;
    if (cond)
        return true;
    fputs("FAIL: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
    return false;
}

/* ---- the VM ----------------------------------------------------------------- */

struct vm {
    int kvm, fd, vcpu;
    struct kvm_run *run;
    size_t run_size;
    uint8_t *ram;  /* host view of [RAM_GPA, RAM_GPA + RAM_SIZE) */
    uint8_t *high; /* host view of [HIGH_GPA, HIGH_GPA + HIGH_SIZE) */
    unsigned int maxphyaddr;
    bool have_1g; /* the vCPU has 1 GiB pages (CPUID Page1GB) */
};

/* Host pointer for [gpa, gpa + len), or NULL if that is not backed RAM. */
static void *gpa_ptr(const struct vm *vm, uint64_t gpa, uint64_t len)
{
    /* RAM_GPA is 0. */
    if (gpa <= RAM_SIZE && len <= RAM_SIZE - gpa)
        return vm->ram + gpa;
    if (gpa >= HIGH_GPA && gpa - HIGH_GPA <= HIGH_SIZE &&
        len <= HIGH_SIZE - (gpa - HIGH_GPA))
        return vm->high + (gpa - HIGH_GPA);
    return NULL;
}

static bool gpa_read64(const struct vm *vm, uint64_t gpa, uint64_t *v)
{
    const void *p = gpa_ptr(vm, gpa, 8);

    if (!p)
        return false;
    memcpy(v, p, 8);
    return true;
}

/* Describe a value the guest read: which GPA's pattern word it is. */
static const char *describe_value(uint64_t v, char *buf, size_t len)
{
    if ((v >> 48) == PATTERN_TAG)
        snprintf(buf, len, "the word at GPA 0x%" PRIx64, v & UINT64_C(0xffffffffffff));
    else
        snprintf(buf, len, "not a pattern word");
    return buf;
}

/* ---- host ops: page tables in guest RAM --------------------------------------- */

struct pt_pool {
    uint8_t *base; /* host address of the first pool page */
    uint64_t gpa;  /* its guest-physical address */
    unsigned char used[PT_POOL_PAGES];
    unsigned int nr_used, peak, nr_allocs, nr_frees;
    bool flush_outstanding;   /* a change is made but its flush not completed */
    unsigned int early_frees; /* pt_free() while a flush was outstanding */
    unsigned int bad_calls;   /* frees or translations of unknown pages */
};

static void *pool_pt_alloc(void *cookie, size_t size, size_t align, vc_paddr_t *pa)
{
    struct pt_pool *pool = cookie;
    size_t npages = size / PAGE_SIZE, step;

    if (size < PAGE_SIZE || (size & (size - 1)) || align == 0 || (align & (align - 1)) ||
        align > MiB(1)) {
        fprintf(stderr, "pt_alloc: unsupported size %zu / align %zu\n", size, align);
        pool->bad_calls++;
        return NULL;
    }
    /* The pool starts 1 MiB-aligned, so page-index alignment is GPA alignment. */
    step = align < PAGE_SIZE ? 1 : align / PAGE_SIZE;
    for (size_t i = 0; i + npages <= PT_POOL_PAGES; i += step) {
        size_t j;

        for (j = 0; j < npages && !pool->used[i + j]; j++)
            ;
        if (j < npages)
            continue;
        memset(pool->used + i, 1, npages);
        memset(pool->base + i * PAGE_SIZE, 0, size);
        pool->nr_used += (unsigned int)npages;
        if (pool->nr_used > pool->peak)
            pool->peak = pool->nr_used;
        pool->nr_allocs++;
        *pa = vc_paddr(pool->gpa + i * PAGE_SIZE);
        return pool->base + i * PAGE_SIZE;
    }
    return NULL;
}

static bool pool_index(const struct pt_pool *pool, uint64_t pa, size_t *idx)
{
    if (pa < pool->gpa || pa - pool->gpa >= (uint64_t)PT_POOL_PAGES * PAGE_SIZE)
        return false;
    *idx = (size_t)((pa - pool->gpa) / PAGE_SIZE);
    return true;
}

static void pool_pt_free(void *cookie, void *va, vc_paddr_t pa, size_t size)
{
    struct pt_pool *pool = cookie;
    size_t idx, npages = size / PAGE_SIZE;

    if (!pool_index(pool, vc_paddr_x(pa), &idx) || vc_paddr_x(pa) % PAGE_SIZE ||
        idx + npages > PT_POOL_PAGES || va != pool->base + idx * PAGE_SIZE ||
        npages == 0) {
        fprintf(stderr, "pt_free: bad page va %p pa 0x%" PRIx64 " size %zu\n", va,
                vc_paddr_x(pa), size);
        pool->bad_calls++;
        return;
    }
    for (size_t j = 0; j < npages; j++) {
        if (!pool->used[idx + j]) {
            fprintf(stderr, "pt_free: page 0x%" PRIx64 " is not allocated\n",
                    vc_paddr_x(pa) + j * PAGE_SIZE);
            pool->bad_calls++;
            return;
        }
    }
    if (pool->flush_outstanding) {
        fprintf(stderr, "pt_free: page 0x%" PRIx64 " freed before its flush completed\n",
                vc_paddr_x(pa));
        pool->early_frees++;
    }
    /* Poison: a hardware walk through a freed table now hits reserved bits. */
    memset(va, 0xff, size);
    memset(pool->used + idx, 0, npages);
    pool->nr_used -= (unsigned int)npages;
    pool->nr_frees++;
}

static void *pool_phys_to_virt(void *cookie, vc_paddr_t pa)
{
    struct pt_pool *pool = cookie;
    size_t idx;

    if (!pool_index(pool, vc_paddr_x(pa), &idx) || !pool->used[idx])
        return NULL;
    return pool->base + (vc_paddr_x(pa) - pool->gpa);
}

static void *host_alloc(void *cookie, size_t size)
{
    (void)cookie;
    return calloc(1, size);
}

static void host_free(void *cookie, void *p, size_t size)
{
    (void)cookie;
    (void)size;
    free(p);
}

static void host_log(void *cookie, enum vc_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void host_log(void *cookie, enum vc_log_level level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    (void)cookie;
    fprintf(stderr, "virtcore %s: ", (unsigned int)level < 4 ? names[level] : "?");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static const struct vc_host_ops pool_ops = {
    .pt_alloc = pool_pt_alloc,
    .pt_free = pool_pt_free,
    .phys_to_virt = pool_phys_to_virt,
    .alloc = host_alloc,
    .free = host_free,
    .log = host_log,
};

/* ---- p2m helpers -------------------------------------------------------------- */

static struct pt_pool pool;

static void change_begin(struct vc_flush *f)
{
    vc_flush_init(f);
    pool.flush_outstanding = true;
}

/* The guest is not running (phase 1) or has reloaded CR3 (phase 2): the
 * invalidation the request describes is done. */
static void change_complete(struct vc_flush *f)
{
    pool.flush_outstanding = false;
    vc_flush_complete(f);
}

static void must(int rc, const char *what)
{
    if (rc != 0)
        die("%s: %s (%s)", what, vc_errname(rc), vc_strerror(rc));
}

static const char *perm_str(unsigned int p, char buf[4])
{
    buf[0] = p & VC_PERM_R ? 'r' : '-';
    buf[1] = p & VC_PERM_W ? 'w' : '-';
    buf[2] = p & VC_PERM_X ? 'x' : '-';
    buf[3] = 0;
    return buf;
}

/* ---- an independent walker, from SDM 4.5 ---------------------------------------- */

struct sdm_walk {
    bool ok;            /* reached a leaf or a non-present entry without errors */
    bool present;       /* a leaf was reached */
    unsigned int level; /* level of the last entry read (0 = PTE ... 3 = PML4E) */
    uint64_t gpa;       /* translated address (when present) */
    bool writable, executable;
    uint64_t entry[4]; /* raw entries read, by level */
    uint64_t entry_gpa[4];
    char why[96]; /* what was wrong when !ok */
};

/*
 * Translate va through the tables at cr3 as 4-level paging with CR0.WP = 1,
 * EFER.NXE = 1 and CPL 0 does (SDM 4.5, 4.6): each level indexes with 9 bits
 * of the address, PS at the PDPTE (1G) or PDE (2M) makes a leaf, bits
 * 51:MAXPHYADDR of every entry are reserved, so is PS in a PML4E, and so are
 * bits 29:13 of a 1G and 20:13 of a 2M leaf (bit 12 is PAT there).
 */
static void sdm_translate(const struct vm *vm, uint64_t cr3, uint64_t va,
                          struct sdm_walk *w)
{
    uint64_t table = cr3 & CR3_ADDR_MASK;
    uint64_t rsvd_hi = (UINT64_C(0x000fffffffffffff) >> vm->maxphyaddr) << vm->maxphyaddr;
    bool wr = true, ex = true;

    memset(w, 0, sizeof(*w));
    for (int level = 3; level >= 0; level--) {
        unsigned int idx = (unsigned int)(va >> (12 + 9 * level)) & 511;
        uint64_t e;

        w->level = (unsigned int)level;
        w->entry_gpa[level] = table + idx * 8u;
        if (!gpa_read64(vm, w->entry_gpa[level], &e)) {
            snprintf(w->why, sizeof(w->why),
                     "level-%d table at GPA 0x%" PRIx64 " not in RAM", level, table);
            return;
        }
        w->entry[level] = e;
        if (!(e & PTE_P)) {
            w->ok = true; /* not present: every other bit is ignored */
            return;
        }
        if (e & rsvd_hi) {
            snprintf(w->why, sizeof(w->why),
                     "level-%d entry 0x%016" PRIx64 " sets bits above MAXPHYADDR %u",
                     level, e, vm->maxphyaddr);
            return;
        }
        wr = wr && (e & PTE_RW);
        ex = ex && !(e & PTE_XD);
        if (level == 3 && (e & PTE_PS)) {
            snprintf(w->why, sizeof(w->why), "PML4E 0x%016" PRIx64 " sets PS", e);
            return;
        }
        if (level == 0 || ((level == 1 || level == 2) && (e & PTE_PS))) {
            unsigned int shift = 12 + 9 * (unsigned int)level;
            uint64_t rsvd_low =
                level ? ((UINT64_C(1) << shift) - 1) & ~UINT64_C(0x1fff) : 0;

            if (e & rsvd_low) {
                snprintf(w->why, sizeof(w->why),
                         "level-%d leaf 0x%016" PRIx64 " sets reserved bits %d:13", level,
                         e, (int)shift - 1);
                return;
            }
            w->ok = w->present = true;
            w->gpa = (e & CR3_ADDR_MASK & ~((UINT64_C(1) << shift) - 1)) |
                     (va & ((UINT64_C(1) << shift) - 1));
            w->writable = wr;
            w->executable = ex;
            return;
        }
        table = e & CR3_ADDR_MASK;
    }
}

/* ---- guest code --------------------------------------------------------------- */

struct code {
    uint8_t *buf; /* host view */
    uint64_t va;  /* guest address of buf[0] (identity-mapped) */
    size_t len, cap;
};

static void emit(struct code *c, const void *bytes, size_t n)
{
    if (c->len + n > c->cap)
        die("internal: guest code overflows its %zu bytes", c->cap);
    memcpy(c->buf + c->len, bytes, n);
    c->len += n;
}

static void emit1(struct code *c, uint8_t b)
{
    emit(c, &b, 1);
}

static void emit_u32(struct code *c, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                    (uint8_t)(v >> 24)};
    emit(c, b, 4);
}

static void emit_u64(struct code *c, uint64_t v)
{
    emit_u32(c, (uint32_t)v);
    emit_u32(c, (uint32_t)(v >> 32));
}

static uint64_t here(const struct code *c)
{
    return c->va + c->len;
}

/* Encodings from SDM vol 2 (opcode tables of MOV, OUT, SHR, CALL, ...). */

/* mov rax, [moffs64]: REX.W A1 imm64 */
static void op_load_rax_abs(struct code *c, uint64_t va)
{
    emit1(c, 0x48);
    emit1(c, 0xa1);
    emit_u64(c, va);
}

/* mov [moffs64], rax: REX.W A3 imm64 */
static void op_store_rax_abs(struct code *c, uint64_t va)
{
    emit1(c, 0x48);
    emit1(c, 0xa3);
    emit_u64(c, va);
}

/* mov rax, imm64: REX.W B8+r imm64 */
static void op_mov_rax_imm(struct code *c, uint64_t v)
{
    emit1(c, 0x48);
    emit1(c, 0xb8);
    emit_u64(c, v);
}

/* mov r15, imm64: REX.WB B8+7 imm64. Returns the offset of the immediate. */
static size_t op_mov_r15_imm(struct code *c, uint64_t v)
{
    emit1(c, 0x49);
    emit1(c, 0xbf);
    emit_u64(c, v);
    return c->len - 8;
}

/* mov eax, imm32: B8 imm32 */
static void op_mov_eax_imm(struct code *c, uint32_t v)
{
    emit1(c, 0xb8);
    emit_u32(c, v);
}

/* out imm8, eax: E7 ib */
static void op_out_eax(struct code *c, uint8_t port)
{
    emit1(c, 0xe7);
    emit1(c, port);
}

/* shr rax, 32: REX.W C1 /5 ib (ModRM 11 101 000) */
static void op_shr_rax_32(struct code *c)
{
    static const uint8_t b[] = {0x48, 0xc1, 0xe8, 0x20};
    emit(c, b, sizeof(b));
}

/* Report rax as two 32-bit outs: low half on lo, high half on hi. */
static void op_report_rax(struct code *c, uint8_t lo, uint8_t hi)
{
    op_out_eax(c, lo);
    op_shr_rax_32(c);
    op_out_eax(c, hi);
}

/* call rax: FF /2 (ModRM 11 010 000) */
static void op_call_rax(struct code *c)
{
    static const uint8_t b[] = {0xff, 0xd0};
    emit(c, b, sizeof(b));
}

/* mov rax, cr3; mov cr3, rax: 0F 20 /r and 0F 22 /r (ModRM 11 011 000).
 * With CR4.PGE = 0 this invalidates every TLB entry and paging-structure
 * cache entry (SDM 4.10.4.1). */
static void op_reload_cr3(struct code *c)
{
    static const uint8_t b[] = {0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8};
    emit(c, b, sizeof(b));
}

/* hlt: F4 */
static void op_hlt(struct code *c)
{
    emit1(c, 0xf4);
}

/* ---- the steps the guest performs ------------------------------------------- */

enum step_op {
    OP_READ,  /* rax = [va]; report it */
    OP_WRITE, /* [va] = STAMP(step) */
    OP_FETCH, /* call va (the host placed "out PORT_EXEC, eax; ret" there) */
};

enum fault_want {
    WANT_OK,         /* the access must succeed */
    WANT_NOTPRESENT, /* #PF, P = 0 */
    WANT_PROT,       /* #PF, P = 1 */
};

struct step {
    const char *name;
    enum step_op op;
    uint64_t va;
    enum fault_want want; /* what the test intends (checked against the lookup) */
    uint64_t want_gpa;    /* intended GPA when WANT_OK / WANT_PROT */
    /* filled in before the run: */
    struct vc_p2m_entry e;
    uint64_t gpa;    /* lookup.mfn * 4096 + offset (when mapped) */
    uint64_t before; /* the word at gpa before the run (writes) */
    bool faults;     /* the expected outcome is a #PF */
    bool rsvd_1g;    /* ... because the vCPU lacks 1G pages */
};

struct phase {
    const char *name;
    struct step *steps;
    size_t nr_steps;
    uint64_t start, end; /* guest address of the phase's code and of its final hlt */
};

/* Step i: r15 = recovery address; the access; "out PORT_DONE, i". A #PF is
 * reported by the handler, which resumes at r15 (past the DONE report). */
static void emit_step(struct code *c, unsigned int index, const struct step *s)
{
    size_t imm = op_mov_r15_imm(c, 0);
    uint64_t recovery;

    switch (s->op) {
    case OP_READ:
        op_load_rax_abs(c, s->va);
        op_report_rax(c, PORT_VAL_LO, PORT_VAL_HI);
        break;
    case OP_WRITE:
        op_mov_rax_imm(c, STAMP(index));
        op_store_rax_abs(c, s->va);
        break;
    case OP_FETCH:
        op_mov_rax_imm(c, s->va);
        op_call_rax(c);
        break;
    }
    op_mov_eax_imm(c, index);
    op_out_eax(c, PORT_DONE);
    recovery = here(c);
    memcpy(c->buf + imm, &recovery, 8);
}

static void emit_phase(struct code *c, struct phase *ph, bool reload_cr3)
{
    ph->start = here(c);
    if (reload_cr3) {
        op_reload_cr3(c);
        op_out_eax(c, PORT_FLUSHED);
    }
    for (size_t i = 0; i < ph->nr_steps; i++)
        emit_step(c, (unsigned int)i, &ph->steps[i]);
    ph->end = here(c);
    op_hlt(c);
}

/*
 * The #PF handler. In 64-bit mode the CPU pushes SS, RSP, RFLAGS, CS, RIP
 * and the error code (SDM 6.14.2, figure 6-9); CR2 holds the faulting
 * linear address (SDM 6.15, interrupt 14).
 */
static void emit_pf_handler(struct code *c)
{
    /* mov rax, cr2: 0F 20 /r, ModRM 11 010 000 */
    static const uint8_t mov_rax_cr2[] = {0x0f, 0x20, 0xd0};
    /* pop rax: 58+r (the error code) */
    static const uint8_t pop_rax[] = {0x58};
    /* mov [rsp], r15: REX.WR 89 /r, ModRM 00 111 100, SIB 00 100 100 (base rsp) */
    static const uint8_t mov_rsp_r15[] = {0x4c, 0x89, 0x3c, 0x24};
    /* iretq: REX.W CF */
    static const uint8_t iretq[] = {0x48, 0xcf};

    emit(c, mov_rax_cr2, sizeof(mov_rax_cr2));
    op_report_rax(c, PORT_CR2_LO, PORT_CR2_HI);
    emit(c, pop_rax, sizeof(pop_rax));
    op_out_eax(c, PORT_PFEC);
    emit(c, mov_rsp_r15, sizeof(mov_rsp_r15)); /* return to the recovery address */
    emit(c, iretq, sizeof(iretq));
}

/* Any other exception: report the vector and the top stack word, then halt. */
static void emit_exception_stub(struct code *c, unsigned int vector)
{
    /* mov rax, [rsp]: REX.W 8B /r, ModRM 00 000 100, SIB 00 100 100 (base rsp) */
    static const uint8_t mov_rax_tos[] = {0x48, 0x8b, 0x04, 0x24};
    /* 1: hlt (F4); jmp 1b (EB cb, -3) */
    static const uint8_t hlt_loop[] = {0xf4, 0xeb, 0xfd};

    op_mov_eax_imm(c, vector);
    op_out_eax(c, PORT_EXC_VEC);
    emit(c, mov_rax_tos, sizeof(mov_rax_tos));
    op_report_rax(c, PORT_EXC_TOS_LO, PORT_EXC_TOS_HI);
    emit(c, hlt_loop, sizeof(hlt_loop));
}

/*
 * A 64-bit IDT gate (SDM 6.14.1, figure 6-8): offset 15:0, selector,
 * IST (bits 2:0 of byte 4), type/attributes (P = 1, DPL = 0, type 0xE =
 * 64-bit interrupt gate), offset 31:16, offset 63:32, reserved.
 */
static void write_idt_gate(uint8_t *idt, unsigned int vector, uint64_t handler,
                           uint16_t sel)
{
    uint8_t *g = idt + vector * 16u;

    memset(g, 0, 16);
    g[0] = (uint8_t)handler;
    g[1] = (uint8_t)(handler >> 8);
    g[2] = (uint8_t)sel;
    g[3] = (uint8_t)(sel >> 8);
    g[4] = 0;    /* IST 0: no stack switch */
    g[5] = 0x8e; /* P | DPL 0 | interrupt gate */
    g[6] = (uint8_t)(handler >> 16);
    g[7] = (uint8_t)(handler >> 24);
    g[8] = (uint8_t)(handler >> 32);
    g[9] = (uint8_t)(handler >> 40);
    g[10] = (uint8_t)(handler >> 48);
    g[11] = (uint8_t)(handler >> 56);
}

/* ---- segments ------------------------------------------------------------------ */

#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS  0x18

/*
 * GDT (SDM 3.4.5, figure 3-8): a 64-bit code segment (type 0xB
 * execute/read/accessed, S, P, L = 1, D = 0, G), a data segment (type 0x3
 * read/write/accessed, S, P, D/B, G) and a 16-byte 64-bit TSS descriptor
 * ("TSS Descriptor in 64-bit mode", SDM 8.2.3, 7.2.3 in older editions;
 * type 0xB = busy, as loaded in TR). IRETQ reloads
 * CS and SS from here.
 */
static void write_gdt(uint8_t *gdt)
{
    const uint64_t code = UINT64_C(0x00af9b000000ffff);
    const uint64_t data = UINT64_C(0x00cf93000000ffff);
    const uint64_t tss_limit = 0x67;
    const uint64_t tss_lo = (tss_limit & 0xffff) | ((TSS_GPA & 0xffffff) << 16) |
                            (UINT64_C(0x8b) << 40) | ((TSS_GPA >> 24 & 0xff) << 56);
    const uint64_t tss_hi = TSS_GPA >> 32;

    memset(gdt, 0, 8);
    memcpy(gdt + SEL_CODE, &code, 8);
    memcpy(gdt + SEL_DATA, &data, 8);
    memcpy(gdt + SEL_TSS, &tss_lo, 8);
    memcpy(gdt + SEL_TSS + 8, &tss_hi, 8);
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->s = 1;
    s->g = 1;
    s->l = code ? 1 : 0;
    s->db = code ? 0 : 1;
}

/* ---- KVM ------------------------------------------------------------------------- */

static volatile sig_atomic_t timed_out;
static struct kvm_run *volatile alarm_run;

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
    if (alarm_run)
        alarm_run->immediate_exit = 1;
}

static void *map_ram(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        die("mmap %zu bytes: %s", size, strerror(errno));
    return p;
}

static void add_slot(struct vm *vm, unsigned int slot, uint64_t gpa, uint64_t size,
                     void *host)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        die("KVM_SET_USER_MEMORY_REGION slot %u: %s", slot, strerror(errno));
}

static const struct kvm_cpuid_entry2 *find_cpuid(const struct kvm_cpuid2 *c, uint32_t fn)
{
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == 0)
            return &c->entries[i];
    return NULL;
}

/* Give the vCPU everything KVM supports, and read the paging features. */
static void setup_cpuid(struct vm *vm)
{
    struct kvm_cpuid2 *c = NULL;
    const struct kvm_cpuid_entry2 *ext, *sizes;

    for (uint32_t n = 64; n <= 4096; n *= 2) {
        c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        if (!c)
            die("out of memory");
        c->nent = n;
        if (ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, c) == 0)
            break;
        if (errno != E2BIG)
            die("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        free(c);
        c = NULL;
    }
    if (!c)
        die("KVM_GET_SUPPORTED_CPUID: too many entries");
    ext = find_cpuid(c, CPUID_EXT_FEATURES);
    if (!ext || !(ext->edx & CPUID_EXT_EDX_LM) || !(ext->edx & CPUID_EXT_EDX_NX))
        skip("KVM guests lack long mode or NX");
    /* Without Page1GB, PS in a PDPTE is a reserved bit (SDM 4.5, PDPTE formats):
     * KVM enforces the vCPU's CPUID (setting the bit anyway has no effect). */
    vm->have_1g = (ext->edx & CPUID_EXT_EDX_PAGE1GB) != 0;
    sizes = find_cpuid(c, CPUID_ADDR_SIZES);
    vm->maxphyaddr = sizes ? (sizes->eax & 0xff) : 36;
    if (vm->maxphyaddr < 32 || vm->maxphyaddr > 52)
        die("implausible MAXPHYADDR %u", vm->maxphyaddr);
    if (ioctl(vm->vcpu, KVM_SET_CPUID2, c) < 0)
        die("KVM_SET_CPUID2: %s", strerror(errno));
    free(c);
}

static void vm_create(struct vm *vm)
{
    int api, mmap_size;

    memset(vm, 0, sizeof(*vm));
    vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm < 0)
        skip("cannot open /dev/kvm: %s", strerror(errno));
    api = ioctl(vm->kvm, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION)
        skip("KVM API version %d, want %d", api, KVM_API_VERSION);
    vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, 0);
    if (vm->fd < 0)
        skip("KVM_CREATE_VM: %s", strerror(errno));
    /* Intel without unrestricted guest needs three pages for a real-mode TSS;
     * harmless elsewhere, and outside every memslot. */
    if (ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
        fprintf(stderr, "note: KVM_SET_TSS_ADDR: %s\n", strerror(errno));

    vm->ram = map_ram(RAM_SIZE);
    vm->high = map_ram(HIGH_SIZE);
    add_slot(vm, 0, RAM_GPA, RAM_SIZE, vm->ram);
    add_slot(vm, 1, HIGH_GPA, HIGH_SIZE, vm->high);

    vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
    if (vm->vcpu < 0)
        die("KVM_CREATE_VCPU: %s", strerror(errno));
    mmap_size = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmap_size < (int)sizeof(struct kvm_run))
        die("KVM_GET_VCPU_MMAP_SIZE: %d", mmap_size);
    vm->run_size = (size_t)mmap_size;
    vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu, 0);
    if (vm->run == MAP_FAILED)
        die("mmap kvm_run: %s", strerror(errno));
    setup_cpuid(vm);
}

static void vm_destroy(struct vm *vm)
{
    munmap(vm->run, vm->run_size);
    close(vm->vcpu);
    close(vm->fd);
    close(vm->kvm);
    munmap(vm->ram, RAM_SIZE);
    munmap(vm->high, HIGH_SIZE);
}

/* Long mode straight away: paging with CR3 = the p2m's root. "Initializing
 * IA-32e Mode" (SDM 10.8.5, 9.8.5 in older editions) lists what software
 * would do; KVM_SET_SREGS loads the resulting state directly. */
static void vcpu_setup(struct vm *vm, uint64_t cr3, uint64_t rip)
{
    struct kvm_sregs sregs;
    struct kvm_regs regs;

    if (ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) < 0)
        die("KVM_GET_SREGS: %s", strerror(errno));
    set_seg(&sregs.cs, SEL_CODE, 0xb, true);
    set_seg(&sregs.ds, SEL_DATA, 0x3, false);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    memset(&sregs.tr, 0, sizeof(sregs.tr));
    sregs.tr.base = TSS_GPA;
    sregs.tr.limit = 0x67;
    sregs.tr.selector = SEL_TSS;
    sregs.tr.type = 0xb; /* busy 64-bit TSS */
    sregs.tr.present = 1;
    memset(&sregs.ldt, 0, sizeof(sregs.ldt));
    sregs.ldt.type = 0x2;
    sregs.ldt.unusable = 1;
    sregs.gdt.base = GDT_GPA;
    sregs.gdt.limit = SEL_TSS + 16 - 1;
    sregs.idt.base = IDT_GPA;
    sregs.idt.limit = NR_VECTORS * 16 - 1;
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.cr4 = CR4_PAE;
    sregs.cr3 = cr3;
    sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
    if (ioctl(vm->vcpu, KVM_SET_SREGS, &sregs) < 0)
        die("KVM_SET_SREGS (CR3 0x%" PRIx64 "): %s", cr3, strerror(errno));

    memset(&regs, 0, sizeof(regs));
    regs.rip = rip;
    regs.rsp = STACK_TOP;
    regs.rflags = RFLAGS_FIXED;
    if (ioctl(vm->vcpu, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS: %s", strerror(errno));
}

static void dump_vcpu(const struct vm *vm)
{
    struct kvm_regs r;
    struct kvm_sregs s;

    if (ioctl(vm->vcpu, KVM_GET_REGS, &r) == 0 && ioctl(vm->vcpu, KVM_GET_SREGS, &s) == 0)
        fprintf(stderr,
                "  vcpu: rip 0x%llx rsp 0x%llx rax 0x%llx r15 0x%llx cr2 0x%llx "
                "cr3 0x%llx\n",
                r.rip, r.rsp, r.rax, r.r15, s.cr2, s.cr3);
}

/* ---- events ---------------------------------------------------------------------- */

enum ev_kind { EV_VALUE = 1, EV_DONE, EV_EXEC, EV_PF, EV_FLUSHED, EV_EXCEPTION };

struct event {
    enum ev_kind kind;
    /* VALUE: the value; DONE: the step; PF: CR2 and the error code;
     * EXCEPTION: the vector and the top-of-stack word. */
    uint64_t a, b;
};

#define MAX_EVENTS 128

struct event_log {
    struct event ev[MAX_EVENTS];
    size_t n;
    bool overflow;
};

static void log_event(struct event_log *l, enum ev_kind kind, uint64_t a, uint64_t b)
{
    if (l->n == MAX_EVENTS) {
        l->overflow = true;
        return;
    }
    l->ev[l->n++] = (struct event){kind, a, b};
}

static void format_event(const struct event *e, char *buf, size_t len)
{
    switch (e->kind) {
    case EV_VALUE:
        snprintf(buf, len, "value 0x%016" PRIx64, e->a);
        break;
    case EV_DONE:
        snprintf(buf, len, "step %" PRIu64 " done", e->a);
        break;
    case EV_EXEC:
        snprintf(buf, len, "fetched code ran");
        break;
    case EV_PF:
        snprintf(buf, len, "#PF cr2 0x%" PRIx64 " error 0x%" PRIx64, e->a, e->b);
        break;
    case EV_FLUSHED:
        snprintf(buf, len, "CR3 reloaded");
        break;
    case EV_EXCEPTION:
        snprintf(buf, len, "exception vector %" PRIu64 " (top of stack 0x%" PRIx64 ")",
                 e->a, e->b);
        break;
    }
}

/* Run the guest until it halts. on_flushed runs when the guest reports the
 * CR3 reload. Returns false if the guest did not halt normally. */
static bool run_until_hlt(struct vm *vm, struct event_log *log, struct vc_flush *pending)
{
    uint32_t lo = 0, cr2_lo = 0, tos_lo = 0;
    uint64_t cr2 = 0, vec = 0;
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    timed_out = 0;
    vm->run->immediate_exit = 0;
    alarm_run = vm->run;
    alarm(RUN_SECONDS);

    for (unsigned int exits = 0; exits < MAX_EXITS; exits++) {
        struct kvm_run *run = vm->run;

        if (ioctl(vm->vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR && !timed_out)
                continue;
            alarm(0);
            if (timed_out)
                fail("guest still running after %u s", RUN_SECONDS);
            else
                fail("KVM_RUN: %s", strerror(errno));
            dump_vcpu(vm);
            return false;
        }
        switch (run->exit_reason) {
        case KVM_EXIT_HLT:
            alarm(0);
            return true;
        case KVM_EXIT_IO: {
            uint32_t v;

            if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 ||
                run->io.count != 1) {
                alarm(0);
                fail("unexpected I/O exit: port 0x%x dir %u size %u count %u",
                     run->io.port, run->io.direction, run->io.size, run->io.count);
                dump_vcpu(vm);
                return false;
            }
            memcpy(&v, (uint8_t *)run + run->io.data_offset, 4);
            switch (run->io.port) {
            case PORT_VAL_LO:
                lo = v;
                break;
            case PORT_VAL_HI:
                log_event(log, EV_VALUE, ((uint64_t)v << 32) | lo, 0);
                break;
            case PORT_DONE:
                log_event(log, EV_DONE, v, 0);
                break;
            case PORT_EXEC:
                log_event(log, EV_EXEC, 0, 0);
                break;
            case PORT_CR2_LO:
                cr2_lo = v;
                break;
            case PORT_CR2_HI:
                cr2 = ((uint64_t)v << 32) | cr2_lo;
                break;
            case PORT_PFEC:
                log_event(log, EV_PF, cr2, v);
                break;
            case PORT_FLUSHED:
                /* The guest reloaded CR3: the invalidation is done, so the
                 * deferred frees may now happen. */
                if (pending)
                    change_complete(pending);
                log_event(log, EV_FLUSHED, 0, 0);
                break;
            case PORT_EXC_VEC:
                vec = v;
                break;
            case PORT_EXC_TOS_LO:
                tos_lo = v;
                break;
            case PORT_EXC_TOS_HI:
                log_event(log, EV_EXCEPTION, vec, ((uint64_t)v << 32) | tos_lo);
                break;
            default:
                alarm(0);
                fail("guest wrote 0x%x to unknown port 0x%x", v, run->io.port);
                dump_vcpu(vm);
                return false;
            }
            break;
        }
        case KVM_EXIT_MMIO:
            alarm(0);
            fail("guest accessed unbacked GPA 0x%llx (%s, %u bytes)", run->mmio.phys_addr,
                 run->mmio.is_write ? "write" : "read", run->mmio.len);
            dump_vcpu(vm);
            return false;
        case KVM_EXIT_SHUTDOWN:
            alarm(0);
            fail("guest shut down (triple fault)");
            dump_vcpu(vm);
            return false;
        case KVM_EXIT_FAIL_ENTRY:
            alarm(0);
            fail("VM entry failed: reason 0x%llx",
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            dump_vcpu(vm);
            return false;
        case KVM_EXIT_INTERNAL_ERROR:
            alarm(0);
            fail("KVM internal error, suberror %u", run->internal.suberror);
            dump_vcpu(vm);
            return false;
        default:
            alarm(0);
            fail("unexpected exit reason %u", run->exit_reason);
            dump_vcpu(vm);
            return false;
        }
    }
    alarm(0);
    fail("guest made more than %u exits", MAX_EXITS);
    dump_vcpu(vm);
    return false;
}

/* ---- checking a phase ------------------------------------------------------------ */

static const char *want_name(enum fault_want w)
{
    return w == WANT_OK           ? "success"
           : w == WANT_NOTPRESENT ? "#PF (not present)"
                                  : "#PF (protection)";
}

/*
 * Look up every step's VA, check the lookup against the test's intent and
 * against the SDM walk of the raw tables, and derive the events the guest
 * must report from the lookup alone.
 */
static size_t expect_phase(struct vm *vm, struct vc_p2m *p2m, uint64_t cr3,
                           struct phase *ph, bool flushed, struct event *exp, size_t max)
{
    size_t n = 0;

    if (flushed)
        exp[n++] = (struct event){EV_FLUSHED, 0, 0};
    for (size_t i = 0; i < ph->nr_steps; i++) {
        struct step *s = &ph->steps[i];
        struct sdm_walk w;
        unsigned int need = s->op == OP_READ    ? VC_PERM_R
                            : s->op == OP_WRITE ? VC_PERM_W
                                                : VC_PERM_X;
        enum fault_want got;
        char p1[4], p2[4];
        int rc;

        rc = vc_p2m_lookup(p2m, vc_gfn(s->va >> 12), &s->e);
        if (!check(rc == 0, "%s: vc_p2m_lookup(gfn 0x%" PRIx64 ") = %s", s->name,
                   s->va >> 12, vc_errname(rc)))
            continue;
        s->gpa = s->e.type != VC_P2M_INVALID
                     ? vc_mfn_x(s->e.mfn) * PAGE_SIZE + (s->va & 0xfff)
                     : 0;
        /* What the lookup says the hardware will do. x86 cannot encode a
         * present page without read permission: no R means not present. */
        if (s->e.type == VC_P2M_INVALID || !(s->e.hw_perms & VC_PERM_R))
            got = (s->e.hw_perms & need) ? WANT_OK : WANT_NOTPRESENT;
        else
            got = (s->e.hw_perms & need) ? WANT_OK : WANT_PROT;
        check(got == s->want,
              "%s: lookup of VA 0x%" PRIx64 " (type %s, hw_perms %s) "
              "predicts %s, the test intends %s",
              s->name, s->va, vc_p2m_type_name(s->e.type), perm_str(s->e.hw_perms, p1),
              want_name(got), want_name(s->want));
        if (s->want != WANT_NOTPRESENT)
            check(s->gpa == s->want_gpa,
                  "%s: lookup of VA 0x%" PRIx64 " says GPA 0x%" PRIx64 " (mfn 0x%" PRIx64
                  "), mapped to 0x%" PRIx64,
                  s->name, s->va, s->gpa, vc_mfn_x(s->e.mfn), s->want_gpa);
        check((s->e.hw_perms & ~s->e.rights) == 0, "%s: hw_perms %s exceed rights %s",
              s->name, perm_str(s->e.hw_perms, p1), perm_str(s->e.rights, p2));

        /* The raw tables, read as the SDM says the CPU reads them. */
        sdm_translate(vm, cr3, s->va, &w);
        if (check(w.ok, "%s: SDM walk of VA 0x%" PRIx64 ": %s", s->name, s->va, w.why)) {
            bool hw_present = s->e.type != VC_P2M_INVALID && (s->e.hw_perms & VC_PERM_R);

            check(w.present == hw_present,
                  "%s: SDM walk of VA 0x%" PRIx64 " finds it %s, the lookup %s", s->name,
                  s->va, w.present ? "present" : "not present",
                  hw_present ? "present" : "not present");
            if (w.present && hw_present) {
                check(w.gpa == s->gpa,
                      "%s: SDM walk translates VA 0x%" PRIx64 " to 0x%" PRIx64
                      ", the lookup to 0x%" PRIx64,
                      s->name, s->va, w.gpa, s->gpa);
                check(w.level * 9 == s->e.order,
                      "%s: SDM walk finds a level-%u leaf, the lookup order %u", s->name,
                      w.level, s->e.order);
                check(w.writable == !!(s->e.hw_perms & VC_PERM_W) &&
                          w.executable == !!(s->e.hw_perms & VC_PERM_X),
                      "%s: SDM walk finds %c%c, the lookup hw_perms %s", s->name,
                      w.writable ? 'w' : '-', w.executable ? 'x' : '-',
                      perm_str(s->e.hw_perms, p1));
            }
        }

        if (n + 3 > max)
            die("internal: too many expected events");
        /* A 1G leaf on a vCPU without Page1GB: the CPU finds PS set in the
         * PDPTE, a reserved bit there, and faults with P and RSVD. */
        s->rsvd_1g = !vm->have_1g && s->e.type != VC_P2M_INVALID && s->e.order == 18 &&
                     (s->e.hw_perms & VC_PERM_R);
        s->faults = got != WANT_OK || s->rsvd_1g;
        if (s->faults) {
            unsigned int ec =
                (got == WANT_PROT || s->rsvd_1g ? PF_P : 0) | (s->rsvd_1g ? PF_RSVD : 0) |
                (s->op == OP_WRITE ? PF_W : 0) | (s->op == OP_FETCH ? PF_ID : 0);
            exp[n++] = (struct event){EV_PF, s->va, ec};
            if (s->op == OP_WRITE && s->want_gpa)
                gpa_read64(vm, s->want_gpa, &s->before);
            continue;
        }
        switch (s->op) {
        case OP_READ: {
            uint64_t v = 0;

            if (!check(gpa_read64(vm, s->gpa, &v), "%s: GPA 0x%" PRIx64 " is not backed",
                       s->name, s->gpa))
                continue;
            exp[n++] = (struct event){EV_VALUE, v, 0};
            break;
        }
        case OP_WRITE:
            gpa_read64(vm, s->gpa, &s->before);
            break;
        case OP_FETCH:
            exp[n++] = (struct event){EV_EXEC, 0, 0};
            break;
        }
        exp[n++] = (struct event){EV_DONE, i, 0};
    }
    return n;
}

static void print_events(const char *title, const struct event *ev, size_t n)
{
    char buf[128];

    fprintf(stderr, "  %s (%zu):\n", title, n);
    for (size_t i = 0; i < n; i++) {
        format_event(&ev[i], buf, sizeof(buf));
        fprintf(stderr, "    %2zu  %s\n", i, buf);
    }
}

/* Compare the guest's reports with the expectation; check memory after writes. */
static void check_phase(struct vm *vm, struct phase *ph, const struct event *exp,
                        size_t nexp, const struct event_log *log)
{
    bool same = !log->overflow && log->n == nexp;
    size_t e = 0;
    char buf[128];

    for (size_t i = 0; same && i < nexp; i++)
        same = exp[i].kind == log->ev[i].kind && exp[i].a == log->ev[i].a &&
               exp[i].b == log->ev[i].b;
    if (!check(same, "%s: the guest's reports differ from what vc_p2m_lookup predicts",
               ph->name)) {
        print_events("expected", exp, nexp);
        print_events("reported by the guest", log->ev, log->n);
        for (size_t i = 0; i < log->n; i++) {
            if (log->ev[i].kind == EV_VALUE)
                fprintf(stderr, "    report %zu: 0x%016" PRIx64 " is %s\n", i,
                        log->ev[i].a, describe_value(log->ev[i].a, buf, sizeof(buf)));
            if (log->ev[i].kind == EV_EXCEPTION)
                fprintf(stderr, "    report %zu: unexpected exception %" PRIu64 "\n", i,
                        log->ev[i].a);
        }
    }

    /* Per-step summary, walking the expectation in step order. */
    for (size_t i = 0; i < ph->nr_steps; i++) {
        const struct step *s = &ph->steps[i];
        char p[4];

        printf("  %-30s VA 0x%012" PRIx64 " ", s->name, s->va);
        if (s->e.type == VC_P2M_INVALID)
            printf("unmapped (span order %2u)       ", s->e.order);
        else
            printf("-> GPA 0x%08" PRIx64 " order %2u %s ", s->gpa, s->e.order,
                   perm_str(s->e.hw_perms, p));
        if (e < nexp && exp[e].kind == EV_FLUSHED)
            e++;
        if (e < nexp && exp[e].kind == EV_PF) {
            printf("#PF error 0x%" PRIx64 "%s\n", exp[e].b,
                   s->rsvd_1g ? " (PS reserved: no Page1GB)" : "");
            e++;
        } else {
            if (e < nexp && exp[e].kind == EV_VALUE) {
                printf("read 0x%016" PRIx64 "\n", exp[e].a);
                e++;
            } else if (e < nexp && exp[e].kind == EV_EXEC) {
                printf("executed\n");
                e++;
            } else {
                printf("wrote 0x%016" PRIx64 "\n", STAMP(i));
            }
            e++; /* EV_DONE */
        }

        if (s->op == OP_WRITE) {
            uint64_t now = 0;

            if (!s->faults) {
                gpa_read64(vm, s->gpa, &now);
                check(now == STAMP(i),
                      "%s: after the write GPA 0x%" PRIx64 " holds 0x%016" PRIx64
                      ", not 0x%016" PRIx64,
                      s->name, s->gpa, now, STAMP(i));
            } else if (s->want_gpa) {
                gpa_read64(vm, s->want_gpa, &now);
                check(now == s->before,
                      "%s: the faulting write changed GPA 0x%" PRIx64
                      " from 0x%016" PRIx64 " to 0x%016" PRIx64,
                      s->name, s->want_gpa, s->before, now);
            }
        }
    }
}

/* After the run: the CPU sets A in every entry it used and D in the leaf of
 * every successful write (SDM 4.8, APM 5.4.2). Proves the guest walked these
 * very tables. */
static void check_ad_bits(struct vm *vm, uint64_t cr3, const struct phase *ph)
{
    for (size_t i = 0; i < ph->nr_steps; i++) {
        const struct step *s = &ph->steps[i];
        struct sdm_walk w;

        if (s->faults)
            continue;
        sdm_translate(vm, cr3, s->va, &w);
        if (!check(w.ok && w.present, "%s: SDM walk after the run: %s", s->name,
                   w.ok ? "not present" : w.why))
            continue;
        for (unsigned int l = 3; l >= w.level && l <= 3; l--)
            check(w.entry[l] & PTE_A,
                  "%s: the CPU did not set A in the level-%u entry 0x%016" PRIx64
                  " at GPA 0x%" PRIx64,
                  s->name, l, w.entry[l], w.entry_gpa[l]);
        if (s->op == OP_WRITE)
            check(w.entry[w.level] & PTE_D,
                  "%s: the CPU did not set D in the leaf 0x%016" PRIx64, s->name,
                  w.entry[w.level]);
    }
}

/* The library must read its tables back after the CPU set A/D bits in them
 * (the walker sets them at any time: SDM 4.8, APM 5.4.2; so does the nested
 * walker in NPT tables). */
static void check_lookups_stable(struct vc_p2m *p2m, const struct phase *ph)
{
    const char *msg = NULL;
    int rc;

    for (size_t i = 0; i < ph->nr_steps; i++) {
        const struct step *s = &ph->steps[i];
        struct vc_p2m_entry e;

        rc = vc_p2m_lookup(p2m, vc_gfn(s->va >> 12), &e);
        if (!check(rc == 0, "%s: vc_p2m_lookup after the run = %s", s->name,
                   vc_errname(rc)))
            continue;
        check(vc_mfn_eq(e.mfn, s->e.mfn) && e.type == s->e.type &&
                  e.access == s->e.access && e.order == s->e.order &&
                  e.hw_perms == s->e.hw_perms,
              "%s: vc_p2m_lookup changed after the guest ran (mfn 0x%" PRIx64
              " -> 0x%" PRIx64 ", order %u -> %u, hw_perms 0x%x -> 0x%x)",
              s->name, vc_mfn_x(s->e.mfn), vc_mfn_x(e.mfn), s->e.order, e.order,
              s->e.hw_perms, e.hw_perms);
    }
    rc = vc_p2m_audit(p2m, &msg);
    check(rc == 0, "vc_p2m_audit after the guest ran: %s (%s)", vc_errname(rc),
          msg ? msg : "no message");
}

/* ---- main ---------------------------------------------------------------------------
 */

static void fill_pattern(uint8_t *host, uint64_t gpa, uint64_t size)
{
    for (uint64_t off = 0; off < size; off += 8) {
        uint64_t v = PATTERN(gpa + off);
        memcpy(host + off, &v, 8);
    }
}

/* "out PORT_EXEC, eax; ret": what a fetch step calls. */
static void place_fetch_stub(struct vm *vm, uint64_t gpa)
{
    static const uint8_t stub[] = {0xe7, PORT_EXEC, 0xc3}; /* out imm8, eax; ret (C3) */
    void *p = gpa_ptr(vm, gpa, sizeof(stub));

    if (!p)
        die("internal: fetch stub GPA 0x%" PRIx64 " not backed", gpa);
    memcpy(p, stub, sizeof(stub));
}

/* Identity maps for the GDT/TSS, IDT, code and stack (4K leaves). */
static void map_system(struct vc_p2m *p2m)
{
    struct vc_flush f;

    change_begin(&f);
    must(vc_p2m_map(p2m, vc_gfn(GDT_GPA >> 12), vc_mfn(GDT_GPA >> 12), 4, VC_P2M_RAM_RW,
                    VC_ACCESS_RWX, &f),
         "vc_p2m_map(GDT, IDT, code)");
    change_complete(&f);
    change_begin(&f);
    must(vc_p2m_map(p2m, vc_gfn(STACK_GPA >> 12), vc_mfn(STACK_GPA >> 12),
                    (STACK_TOP - STACK_GPA) >> 12, VC_P2M_RAM_RW, VC_ACCESS_RWX, &f),
         "vc_p2m_map(stack)");
    change_complete(&f);
}

static void expect_leaf(struct vc_p2m *p2m, const char *what, uint64_t va, uint64_t gpa,
                        unsigned int order, enum vc_p2m_type type, unsigned int hw_perms)
{
    struct vc_p2m_entry e;
    char p1[4], p2[4];
    int rc = vc_p2m_lookup(p2m, vc_gfn(va >> 12), &e);

    if (!check(rc == 0, "%s: vc_p2m_lookup(gfn 0x%" PRIx64 ") = %s", what, va >> 12,
               vc_errname(rc)))
        return;
    check(e.type == type && vc_mfn_x(e.mfn) == gpa >> 12 && e.order == order &&
              e.hw_perms == hw_perms,
          "%s: vc_p2m_lookup(gfn 0x%" PRIx64 ") = type %s mfn 0x%" PRIx64
          " order %u hw_perms %s; want type %s mfn 0x%" PRIx64 " order %u hw_perms %s",
          what, va >> 12, vc_p2m_type_name(e.type), vc_mfn_x(e.mfn), e.order,
          perm_str(e.hw_perms, p1), vc_p2m_type_name(type), gpa >> 12, order,
          perm_str(hw_perms, p2));
}

int main(void)
{
    static struct vm vm;
    struct vc_host host = {&pool_ops, &pool};
    struct vc_p2m_config cfg;
    struct vc_p2m *p2m = NULL;
    struct vc_flush f;
    struct code code, handlers;
    uint64_t cr3;
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    vm_create(&vm);

    /* Guest memory: pattern everywhere, then the system structures. */
    fill_pattern(vm.ram, RAM_GPA, RAM_SIZE);
    fill_pattern(vm.high, HIGH_GPA, HIGH_SIZE);
    memset(vm.ram + GDT_GPA, 0, PAGE_SIZE * 5);
    memset(vm.ram + STACK_GPA, 0, STACK_TOP - STACK_GPA);
    write_gdt(vm.ram + GDT_GPA);
    pool.base = vm.ram + PT_POOL_GPA;
    pool.gpa = PT_POOL_GPA;
    memset(pool.base, 0xff, (size_t)PT_POOL_PAGES * PAGE_SIZE); /* pt_alloc zeroes */

    /* The p2m: x86-64 long-mode format, 48-bit input (virtual) addresses. */
    memset(&cfg, 0, sizeof(cfg));
    cfg.format = VC_P2M_FMT_X86_64;
    cfg.fmt.ia_bits = 48;
    cfg.fmt.oa_bits = vm.maxphyaddr < 40 ? vm.maxphyaddr : 40;
    must(vc_p2m_create(&host, &cfg, &p2m), "vc_p2m_create(VC_P2M_FMT_X86_64, ia 48)");

    map_system(p2m);
    /* A 2M leaf and a 1G leaf. */
    change_begin(&f);
    must(vc_p2m_set_entry(p2m, vc_gfn(VA_2M >> 12), vc_mfn(BLOCK2M_GPA >> 12), 9,
                          VC_P2M_RAM_RW, VC_ACCESS_RWX, &f),
         "vc_p2m_set_entry(2M leaf, order 9)");
    change_complete(&f);
    change_begin(&f);
    must(vc_p2m_set_entry(p2m, vc_gfn(VA_1G >> 12), vc_mfn(HIGH_GPA >> 12), 18,
                          VC_P2M_RAM_RW, VC_ACCESS_RWX, &f),
         "vc_p2m_set_entry(1G leaf, order 18)");
    change_complete(&f);
    /* 4K pages: a marker, read-only, rw without execute, no access. */
    change_begin(&f);
    must(vc_p2m_map(p2m, vc_gfn(VA_4K >> 12), vc_mfn(PAGE4K_GPA >> 12), 1, VC_P2M_RAM_RW,
                    VC_ACCESS_RWX, &f),
         "vc_p2m_map(4K marker)");
    must(vc_p2m_map(p2m, vc_gfn(VA_RO >> 12), vc_mfn(PAGE_RO_GPA >> 12), 1, VC_P2M_RAM_RO,
                    VC_ACCESS_RWX, &f),
         "vc_p2m_map(read-only page)");
    must(vc_p2m_map(p2m, vc_gfn(VA_NX >> 12), vc_mfn(PAGE_NX_GPA >> 12), 1, VC_P2M_RAM_RW,
                    VC_ACCESS_RW, &f),
         "vc_p2m_map(no-execute page)");
    must(vc_p2m_map(p2m, vc_gfn(VA_NOACC >> 12), vc_mfn(PAGE_NOACC_GPA >> 12), 1,
                    VC_P2M_RAM_RW, VC_ACCESS_N, &f),
         "vc_p2m_map(no-access page)");
    change_complete(&f);

    /* The leaves are the sizes asked for, before anything runs. */
    expect_leaf(p2m, "identity code page", CODE_GPA, CODE_GPA, 0, VC_P2M_RAM_RW,
                VC_PERM_RWX);
    expect_leaf(p2m, "identity stack page", STACK_GPA, STACK_GPA, 0, VC_P2M_RAM_RW,
                VC_PERM_RWX);
    expect_leaf(p2m, "2M leaf", VA_2M + OFF_2M, BLOCK2M_GPA + (OFF_2M & ~UINT64_C(0xfff)),
                9, VC_P2M_RAM_RW, VC_PERM_RWX);
    expect_leaf(p2m, "1G leaf", VA_1G + OFF_1G, HIGH_GPA + (OFF_1G & ~UINT64_C(0xfff)),
                18, VC_P2M_RAM_RW, VC_PERM_RWX);
    expect_leaf(p2m, "4K leaf", VA_4K, PAGE4K_GPA, 0, VC_P2M_RAM_RW, VC_PERM_RWX);
    expect_leaf(p2m, "read-only leaf", VA_RO, PAGE_RO_GPA, 0, VC_P2M_RAM_RO,
                VC_PERM_R | VC_PERM_X);
    expect_leaf(p2m, "no-execute leaf", VA_NX, PAGE_NX_GPA, 0, VC_P2M_RAM_RW,
                VC_PERM_R | VC_PERM_W);
    expect_leaf(p2m, "no-access leaf", VA_NOACC, PAGE_NOACC_GPA, 0, VC_P2M_RAM_RW, 0);
    {
        const char *msg = NULL;

        rc = vc_p2m_audit(p2m, &msg);
        check(rc == 0, "vc_p2m_audit before the run: %s (%s)", vc_errname(rc),
              msg ? msg : "no message");
    }

    cr3 = vc_p2m_hw_pointer(p2m);
    if (!check((cr3 & ~(CR3_ADDR_MASK | CR3_PWT_PCD)) == 0 &&
                   (cr3 & CR3_ADDR_MASK) >= PT_POOL_GPA &&
                   (cr3 & CR3_ADDR_MASK) <
                       PT_POOL_GPA + (uint64_t)PT_POOL_PAGES * PAGE_SIZE,
               "vc_p2m_hw_pointer() = 0x%" PRIx64 " is not a CR3 for a root in the pool",
               cr3))
        return EXIT_FAIL;

    /* Fetch stubs: on the read-only page (rx: runs) and on the no-execute
     * page (faults, but would report if it ran). */
    place_fetch_stub(&vm, PAGE_RO_GPA + OFF_CODE);
    place_fetch_stub(&vm, PAGE_NX_GPA + OFF_CODE);

    /* The programs. */
    struct step steps1[] = {
        {"read via 2M leaf", OP_READ, VA_2M + OFF_2M, WANT_OK, BLOCK2M_GPA + OFF_2M},
        {"read via 2M leaf, last page", OP_READ, VA_2M + OFF_2M_LAST, WANT_OK,
         BLOCK2M_GPA + OFF_2M_LAST},
        {"read via 1G leaf", OP_READ, VA_1G + OFF_1G, WANT_OK, HIGH_GPA + OFF_1G},
        {"read via 1G leaf, page 1", OP_READ, VA_1G + 0x1008, WANT_OK, HIGH_GPA + 0x1008},
        {"read via 1G leaf, second 2M", OP_READ, VA_1G + OFF_1G_2ND, WANT_OK,
         HIGH_GPA + OFF_1G_2ND},
        {"read via 4K leaf", OP_READ, VA_4K + OFF_4K, WANT_OK, PAGE4K_GPA + OFF_4K},
        {"read read-only page", OP_READ, VA_RO + OFF_RO, WANT_OK, PAGE_RO_GPA + OFF_RO},
        {"read no-execute page", OP_READ, VA_NX + OFF_NX, WANT_OK, PAGE_NX_GPA + OFF_NX},
        {"write via 2M leaf", OP_WRITE, VA_2M + OFF_2M + 8, WANT_OK,
         BLOCK2M_GPA + OFF_2M + 8},
        {"write via 1G leaf", OP_WRITE, VA_1G + OFF_1G + 8, WANT_OK,
         HIGH_GPA + OFF_1G + 8},
        {"write via 4K leaf", OP_WRITE, VA_4K + OFF_4K + 8, WANT_OK,
         PAGE4K_GPA + OFF_4K + 8},
        {"write read-only page", OP_WRITE, VA_RO + OFF_RO, WANT_PROT,
         PAGE_RO_GPA + OFF_RO},
        {"read unmapped (empty PTE)", OP_READ, VA_NOMAP + 0x10, WANT_NOTPRESENT, 0},
        {"read unmapped (empty PML4E)", OP_READ, VA_HOLE + 0x20, WANT_NOTPRESENT, 0},
        {"read no-access page", OP_READ, VA_NOACC + 0x30, WANT_NOTPRESENT, 0},
        {"execute read-only page", OP_FETCH, VA_RO + OFF_CODE, WANT_OK,
         PAGE_RO_GPA + OFF_CODE},
        {"execute no-execute page", OP_FETCH, VA_NX + OFF_CODE, WANT_PROT,
         PAGE_NX_GPA + OFF_CODE},
    };
    /* Phase 2, after the host split the 2M leaf (one page read-only),
     * remapped the 4K page, unmapped the 1G leaf and made the read-only page
     * RAM_RW with vc_p2m_change_type(). */
    struct step steps2[] = {
        {"read split page", OP_READ, VA_2M + OFF_2M, WANT_OK, BLOCK2M_GPA + OFF_2M},
        {"write split page (now RO)", OP_WRITE, VA_2M + OFF_2M + 16, WANT_PROT,
         BLOCK2M_GPA + OFF_2M + 16},
        {"write split page's neighbour", OP_WRITE, VA_2M + OFF_2M + 0x1000, WANT_OK,
         BLOCK2M_GPA + OFF_2M + 0x1000},
        {"read split block, last page", OP_READ, VA_2M + OFF_2M_LAST, WANT_OK,
         BLOCK2M_GPA + OFF_2M_LAST},
        {"read remapped 4K page", OP_READ, VA_4K + OFF_4K, WANT_OK,
         PAGE_REMAP_GPA + OFF_4K},
        {"read unmapped 1G range", OP_READ, VA_1G + OFF_1G, WANT_NOTPRESENT, 0},
        {"write ex-read-only page", OP_WRITE, VA_RO + OFF_RO, WANT_OK,
         PAGE_RO_GPA + OFF_RO},
    };
    struct phase ph1 = {"phase 1", steps1, ARRAY_SIZE(steps1), 0, 0};
    struct phase ph2 = {"phase 2", steps2, ARRAY_SIZE(steps2), 0, 0};
    /* Phase 3, on a p2m created with VC_FMT_F_NO_1G: the order-18 entry is
     * built from 2M leaves (any vCPU can walk those). */
    struct step steps3[] = {
        {"read 1G range via 2M leaf", OP_READ, VA_1G + OFF_1G, WANT_OK,
         HIGH_GPA + OFF_1G},
        {"read 1G range, second 2M", OP_READ, VA_1G + OFF_1G_2ND, WANT_OK,
         HIGH_GPA + OFF_1G_2ND},
        {"write 1G range via 2M leaf", OP_WRITE, VA_1G + OFF_1G + 16, WANT_OK,
         HIGH_GPA + OFF_1G + 16},
        {"read 4K VA (not in this p2m)", OP_READ, VA_4K + OFF_4K, WANT_NOTPRESENT, 0},
    };
    struct phase ph3 = {"phase 3", steps3, ARRAY_SIZE(steps3), 0, 0};

    code = (struct code){vm.ram + CODE_GPA, CODE_GPA, 0, PAGE_SIZE};
    emit_phase(&code, &ph1, false);
    emit_phase(&code, &ph2, true);
    emit_phase(&code, &ph3, false);
    handlers = (struct code){vm.ram + HANDLER_GPA, HANDLER_GPA, 0, PAGE_SIZE};
    for (unsigned int v = 0; v < NR_VECTORS; v++) {
        uint64_t at;

        handlers.len = (v + 1) * 32u; /* 32-byte slots; slot 0 unused */
        at = here(&handlers);
        if (v == VEC_PF) {
            handlers.len = 0x600; /* the #PF handler gets its own room */
            at = here(&handlers);
            emit_pf_handler(&handlers);
        } else {
            emit_exception_stub(&handlers, v);
        }
        write_idt_gate(vm.ram + IDT_GPA, v, at, SEL_CODE);
    }

    /* ---- phase 1 ---- */
    struct event exp[MAX_EVENTS];
    struct event_log log;
    size_t nexp;
    struct kvm_regs regs;

    printf("kvm_x86: p2m format x86-64 (ia_bits 48, oa_bits %u), CR3 = 0x%" PRIx64
           ", %u table pages in guest RAM at GPA 0x%" PRIx64 "; MAXPHYADDR %u\n",
           cfg.fmt.oa_bits, cr3, pool.nr_used, pool.gpa, vm.maxphyaddr);
    if (!vm.have_1g)
        printf("note: KVM offers no 1 GiB pages here (CPUID Page1GB clear): through a 1G "
               "leaf the CPU must raise #PF with RSVD (PS is reserved in its PDPTE); the "
               "1G range is read through 2M leaves in phase 3\n");
    nexp = expect_phase(&vm, p2m, cr3, &ph1, false, exp, MAX_EVENTS);
    vcpu_setup(&vm, cr3, ph1.start);
    memset(&log, 0, sizeof(log));
    if (!run_until_hlt(&vm, &log, NULL)) {
        print_events("reported by the guest before it stopped", log.ev, log.n);
        return EXIT_FAIL;
    }
    printf("%s:\n", ph1.name);
    check_phase(&vm, &ph1, exp, nexp, &log);
    check_ad_bits(&vm, cr3, &ph1);
    check_lookups_stable(p2m, &ph1);
    if (ioctl(vm.vcpu, KVM_GET_REGS, &regs) < 0)
        die("KVM_GET_REGS: %s", strerror(errno));
    if (!check(regs.rip == ph1.end + 1, "phase 1 halted at 0x%llx, not at 0x%" PRIx64,
               regs.rip - 1, ph1.end)) {
        fprintf(stderr, "%u of %u checks failed\n", failures, checks);
        return EXIT_FAIL;
    }

    /* ---- phase 2: change the tables under the halted guest ---- */
    struct vc_flush f2;
    uint64_t split_gfn = (VA_2M + OFF_2M) >> 12;
    unsigned int frees_before = pool.nr_frees;

    change_begin(&f2);
    must(vc_p2m_set_entry(p2m, vc_gfn(split_gfn), vc_mfn((BLOCK2M_GPA + OFF_2M) >> 12), 0,
                          VC_P2M_RAM_RO, VC_ACCESS_RWX, &f2),
         "vc_p2m_set_entry(one page of the 2M leaf, order 0, RAM_RO)");
    must(vc_p2m_map(p2m, vc_gfn(VA_4K >> 12), vc_mfn(PAGE_REMAP_GPA >> 12), 1,
                    VC_P2M_RAM_RW, VC_ACCESS_RWX, &f2),
         "vc_p2m_map(remap the 4K page)");
    must(vc_p2m_unmap(p2m, vc_gfn(VA_1G >> 12), UINT64_C(1) << 18, &f2),
         "vc_p2m_unmap(the 1G leaf)");
    must(vc_p2m_change_type(p2m, vc_gfn(VA_RO >> 12), 1, VC_P2M_RAM_RO, VC_P2M_RAM_RW,
                            &f2),
         "vc_p2m_change_type(read-only page -> RAM_RW)");
    check(f2.kind == VC_FLUSH_STRUCTURAL,
          "phase 2 flush kind is %s, want structural (a split and a freed table)",
          vc_flush_kind_name(f2.kind));
    /* The 1G leaf was the only entry of its PDPT: that table is now empty,
     * so it is freed, but only through the flush (p2m.h). */
    check(f2.nr_deferred >= 1 && pool.nr_frees == frees_before,
          "phase 2: %u table(s) deferred and %u freed at once; want the emptied PDPT "
          "deferred until the flush completes",
          f2.nr_deferred, pool.nr_frees - frees_before);
    check(vc_flush_covers(&f2, split_gfn) && vc_flush_covers(&f2, VA_4K >> 12) &&
              vc_flush_covers(&f2, (VA_1G + OFF_1G) >> 12) &&
              vc_flush_covers(&f2, VA_RO >> 12),
          "phase 2 flush does not cover every changed page");
    expect_leaf(p2m, "split page", VA_2M + OFF_2M,
                BLOCK2M_GPA + (OFF_2M & ~UINT64_C(0xfff)), 0, VC_P2M_RAM_RO,
                VC_PERM_R | VC_PERM_X);
    expect_leaf(p2m, "split page's neighbour", VA_2M + OFF_2M + 0x1000,
                BLOCK2M_GPA + (OFF_2M & ~UINT64_C(0xfff)) + 0x1000, 0, VC_P2M_RAM_RW,
                VC_PERM_RWX);
    expect_leaf(p2m, "remapped 4K page", VA_4K, PAGE_REMAP_GPA, 0, VC_P2M_RAM_RW,
                VC_PERM_RWX);
    expect_leaf(p2m, "ex-read-only page", VA_RO, PAGE_RO_GPA, 0, VC_P2M_RAM_RW,
                VC_PERM_RWX);

    nexp = expect_phase(&vm, p2m, cr3, &ph2, true, exp, MAX_EVENTS);
    memset(&log, 0, sizeof(log));
    if (!run_until_hlt(&vm, &log, &f2)) {
        print_events("reported by the guest before it stopped", log.ev, log.n);
        return EXIT_FAIL;
    }
    printf("%s (after split, remap, unmap of the 1G leaf, change_type; the guest "
           "reloaded CR3, then %u table page(s) were freed):\n",
           ph2.name, pool.nr_frees - frees_before);
    check(pool.nr_frees > frees_before, "phase 2: the emptied PDPT was never freed");
    check_phase(&vm, &ph2, exp, nexp, &log);
    check_ad_bits(&vm, cr3, &ph2);
    check_lookups_stable(p2m, &ph2);
    check(pool.early_frees == 0,
          "%u page-table page(s) were freed before the flush completed",
          pool.early_frees);
    check(pool.bad_calls == 0, "%u bad host-op call(s)", pool.bad_calls);
    if (ioctl(vm.vcpu, KVM_GET_REGS, &regs) < 0)
        die("KVM_GET_REGS: %s", strerror(errno));
    if (!check(regs.rip == ph2.end + 1, "phase 2 halted at 0x%llx, not at 0x%" PRIx64,
               regs.rip - 1, ph2.end)) {
        fprintf(stderr, "%u of %u checks failed\n", failures, checks);
        return EXIT_FAIL;
    }

    /* ---- phase 3: a second p2m without 1G leaves, loaded in CR3 ---- */
    struct vc_p2m *p2m_no1g = NULL;
    struct kvm_sregs sregs;
    uint64_t cr3_no1g;

    cfg.fmt.flags = VC_FMT_F_NO_1G;
    must(vc_p2m_create(&host, &cfg, &p2m_no1g),
         "vc_p2m_create(VC_P2M_FMT_X86_64, NO_1G)");
    map_system(p2m_no1g);
    change_begin(&f);
    must(vc_p2m_set_entry(p2m_no1g, vc_gfn(VA_1G >> 12), vc_mfn(HIGH_GPA >> 12), 18,
                          VC_P2M_RAM_RW, VC_ACCESS_RWX, &f),
         "vc_p2m_set_entry(order 18 with VC_FMT_F_NO_1G)");
    change_complete(&f);
    expect_leaf(p2m_no1g, "order-18 entry without 1G leaves", VA_1G + OFF_1G,
                HIGH_GPA + (OFF_1G & ~UINT64_C(0xfff)), 9, VC_P2M_RAM_RW, VC_PERM_RWX);
    expect_leaf(p2m_no1g, "order-18 entry without 1G leaves, last 2M",
                VA_1G + GiB(1) - 0x1000, HIGH_GPA + GiB(1) - 0x1000, 9, VC_P2M_RAM_RW,
                VC_PERM_RWX);
    cr3_no1g = vc_p2m_hw_pointer(p2m_no1g);
    nexp = expect_phase(&vm, p2m_no1g, cr3_no1g, &ph3, false, exp, MAX_EVENTS);
    /* Load the new root; KVM_SET_SREGS resets the vCPU's MMU context. */
    if (ioctl(vm.vcpu, KVM_GET_SREGS, &sregs) < 0)
        die("KVM_GET_SREGS: %s", strerror(errno));
    sregs.cr3 = cr3_no1g;
    if (ioctl(vm.vcpu, KVM_SET_SREGS, &sregs) < 0)
        die("KVM_SET_SREGS (CR3 0x%" PRIx64 "): %s", cr3_no1g, strerror(errno));
    memset(&log, 0, sizeof(log));
    if (!run_until_hlt(&vm, &log, NULL)) {
        print_events("reported by the guest before it stopped", log.ev, log.n);
        return EXIT_FAIL;
    }
    printf("%s (second p2m with VC_FMT_F_NO_1G, CR3 = 0x%" PRIx64 "):\n", ph3.name,
           cr3_no1g);
    check_phase(&vm, &ph3, exp, nexp, &log);
    check_ad_bits(&vm, cr3_no1g, &ph3);
    check_lookups_stable(p2m_no1g, &ph3);
    if (ioctl(vm.vcpu, KVM_GET_REGS, &regs) < 0)
        die("KVM_GET_REGS: %s", strerror(errno));
    check(regs.rip == ph3.end + 1, "phase 3 halted at 0x%llx, not at 0x%" PRIx64,
          regs.rip - 1, ph3.end);

    vc_p2m_destroy(p2m_no1g);
    vc_p2m_destroy(p2m);
    check(pool.bad_calls == 0, "%u bad host-op call(s) during vc_p2m_destroy",
          pool.bad_calls);
    check(pool.nr_used == 0, "vc_p2m_destroy left %u table page(s) allocated",
          pool.nr_used);
    vm_destroy(&vm);

    printf("table pages: %u allocations, peak %u in use\n", pool.nr_allocs, pool.peak);
    if (failures) {
        fprintf(stderr, "%u of %u checks failed\n", failures, checks);
        printf("FAIL (%u of %u checks)\n", failures, checks);
        return EXIT_FAIL;
    }
    printf("PASS: %u checks\n", checks);
    return EXIT_PASS;
}
