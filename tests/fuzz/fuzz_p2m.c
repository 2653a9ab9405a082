/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the p2m engine: the input is a format configuration
 * followed by a sequence of operations (map, unmap, change_type,
 * set_access, set_suppress_ve, set_entry, lookup) whose frames, counts,
 * types and access values come from the bytes, valid or not.
 *
 * The oracle is a per-4K-frame model of two windows of the guest-physical
 * space: A = the first 2^20 frames and B = the last 2^20 frames (one
 * window when the input space is that small). Valid operations are only
 * issued inside a window, so every frame outside both windows must stay
 * unmapped. After every operation:
 *
 *   - the return code is what the header documents: 0 for valid input, an
 *     error out of the set of errors the arguments call for otherwise (the
 *     precedence between two applicable errors is not documented, so any of
 *     them is accepted); a rejected call changes nothing (same page-table
 *     and object counts, flush untouched);
 *   - vc_p2m_audit() passes;
 *   - the frames of the operation plus a margin read back through the
 *     walker exactly as the model has them (frame, type, access, sve, and
 *     the derived rights, hardware permissions and memory type);
 *   - every frame the model says changed is covered by the flush, whose
 *     kind is at least ADDED (only empty frames were filled) or MODIFIED (a
 *     mapped frame changed or went away); a no-op reports nothing;
 *   - every changed frame was reported to the observer, and every observer
 *     record agrees with the model;
 *   - on break-before-make formats (ARM), the entry is invalid whenever
 *     bbm_flush() runs, and every frame whose output or memory type changed
 *     while mapped was covered by a bbm_flush() call (other formats never
 *     get the call);
 *   - a successful operation returns no memory to the host: freed tables
 *     (and their bookkeeping, which unlocked lookups read) wait for
 *     vc_flush_complete() (XSA-346);
 *   - lookups (locked and unlocked) of the op's first, last and next frame
 *     agree with the model, including the span their order reports.
 *
 * Allocation failure: an operation can ask for the Nth host allocation to
 * fail (the host ops are the hosted layer's, wrapped). If it does, the call
 * must return VC_ENOMEM with every table entry bit-identical (a full walk
 * snapshot), the flush untouched and nothing leaked; the operation is then
 * retried without failure.
 *
 * After the last operation: the dirty parts of both windows are compared in
 * full, the mapped-frame count matches the model, everything is unmapped
 * (only the root may remain), the p2m is destroyed and the hosted layer
 * must show no live page-table bytes or objects.
 *
 * Any mismatch prints a diagnosis and calls abort(). FUZZ_P2M_TRACE=1
 * prints every operation and its result (for triage).
 *
 * Input layout: byte 0 picks the configuration (bits 0-2: format, 3: no
 * merging, 4: no 1G leaves, 5: max_order one superpage level, 6: EPT
 * without execute-only, 7: fail an allocation of vc_p2m_create, the Nth
 * with N = 1 + byte 1 % 6). Then operations of OP_BYTES bytes each (a
 * short tail is zero-padded):
 *   0: kind (bits 0-2: map, map, unmap, change_type, set_access,
 *      set_suppress_ve, set_entry, lookup; bit 3: unlocked lookup)
 *   1: bits 0-2 frame mode (see decode_op), 3 raw (possibly invalid)
 *      type/access/order, 4 no rounding to the granule, 5-7: 5 or 6 fail
 *      an allocation, 7 pass a NULL flush
 *   2-4 frame offset, 5-6 count, 7-9 machine frame (bits 22-23 of it: the
 *   mode), 10 type (change_type: from | to << 4), 11 access (bit 0: sve),
 *   12 set_entry order, 13 which allocation fails (1 + b % 12).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <virtcore/virtcore.h>

/*
 * The oracle's per-frame loops are kept out of the coverage instrumentation
 * (and not inlined into instrumented code): comparison-tracing every frame
 * of a 1 GiB operation would dominate the run time and tell the fuzzer
 * nothing about the library.
 */
#define HOT __attribute__((noinline, no_sanitize("coverage")))

/* ---- diagnostics ---------------------------------------------------------- */

static const char *cur_cfg_name = "?";
static unsigned long cur_op_index;
static int trace = -1; /* FUZZ_P2M_TRACE=1: print every operation (triage) */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fuzz-p2m: config %s, op %lu: ", cur_cfg_name, cur_op_index);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* ---- the host: hosted layer with failure injection ------------------------ */

/*
 * The wrapped host keeps the hosted cookie and copies the hosted ops table,
 * overriding only the allocators (to fail the Nth attempt) and the log (to
 * catch error-level messages such as lock-order violations). Every other op,
 * present or future, is forwarded untouched.
 */
static struct vc_hosted *hosted;
static const struct vc_host_ops *inner_ops;
static struct vc_host_ops wrap_ops;
static struct vc_host wrap_host;

static unsigned long alloc_attempts; /* pt_alloc + alloc calls, ever */
static unsigned long frees;          /* pt_free + free calls, ever */
static unsigned long fail_at;        /* fail the attempt with this number (0: never) */
static bool injected;                /* an attempt was failed since arming */

static bool alloc_should_fail(void)
{
    alloc_attempts++;
    if (fail_at != 0 && alloc_attempts == fail_at) {
        injected = true;
        return true;
    }
    return false;
}

static void *wrap_pt_alloc(void *cookie, size_t size, size_t align, vc_paddr_t *pa)
{
    if (alloc_should_fail())
        return NULL;
    return inner_ops->pt_alloc(cookie, size, align, pa);
}

static void *wrap_alloc(void *cookie, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return inner_ops->alloc(cookie, size);
}

/* Releases are counted: a successful operation must return nothing to the
 * host (freed tables wait for vc_flush_complete()). */
static void wrap_pt_free(void *cookie, void *va, vc_paddr_t pa, size_t size)
{
    frees++;
    inner_ops->pt_free(cookie, va, pa, size);
}

static void wrap_free(void *cookie, void *p, size_t size)
{
    frees++;
    inner_ops->free(cookie, p, size);
}

static void wrap_log(void *cookie, enum vc_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void wrap_log(void *cookie, enum vc_log_level level, const char *fmt, va_list ap)
{
    (void)cookie;
    if (level == VC_LOG_ERROR) {
        char buf[256];
        vsnprintf(buf, sizeof(buf), fmt, ap);
        fail("library logged an error: %s", buf);
    }
}

static void arm_failure(unsigned long nth)
{
    fail_at = alloc_attempts + nth;
    injected = false;
}

static void disarm_failure(void)
{
    fail_at = 0;
}

static void host_init(void)
{
    struct vc_hosted_config hc = {0};

    if (hosted)
        return;
    hc.arena_size = UINT64_C(1) << 30; /* 1 GiB of address space, reused */
    hc.quiet = true;
    if (vc_hosted_create(&hc, &hosted) != 0)
        fail("vc_hosted_create failed");
    wrap_host = *vc_hosted_host(hosted);
    inner_ops = wrap_host.ops;
    wrap_ops = *inner_ops;
    wrap_ops.pt_alloc = wrap_pt_alloc;
    wrap_ops.alloc = wrap_alloc;
    wrap_ops.pt_free = wrap_pt_free;
    wrap_ops.free = wrap_free;
    wrap_ops.log = wrap_log;
    wrap_host.ops = &wrap_ops;
}

/* ---- configurations --------------------------------------------------------- */

struct fz_cfg {
    const char *name;
    enum vc_p2m_format_id id;
    struct vc_p2m_format_cfg fmt;
};

static const struct fz_cfg cfgs[8] = {
    {"ept4", VC_P2M_FMT_EPT, {.ia_bits = 48, .oa_bits = 46}},
    {"ept5", VC_P2M_FMT_EPT, {.ia_bits = 57, .oa_bits = 52, .levels = 5}},
    {"arm-4k-40", VC_P2M_FMT_ARM_S2, {.ia_bits = 40, .oa_bits = 40, .vmid = 5}},
    {"arm-4k-48", VC_P2M_FMT_ARM_S2, {.ia_bits = 48, .oa_bits = 48}},
    {"arm-16k-40", VC_P2M_FMT_ARM_S2, {.ia_bits = 40, .oa_bits = 40, .granule_shift = 14}},
    {"arm-64k-42", VC_P2M_FMT_ARM_S2, {.ia_bits = 42, .oa_bits = 44, .granule_shift = 16}},
    {"x86-64", VC_P2M_FMT_X86_64, {.ia_bits = 48, .oa_bits = 46}},
    /* 2^20 frames in all: the model covers the whole input space */
    {"arm-4k-32", VC_P2M_FMT_ARM_S2, {.ia_bits = 32, .oa_bits = 36}},
};

/* ---- the model -------------------------------------------------------------- */

#define WIN_SHIFT 20
#define WIN (UINT64_C(1) << WIN_SHIFT)
#define NSLOTS (2 * WIN)
#define OP_BYTES 14
#define ATTR_SVE 0x100u
#define UNMAPPED UINT64_MAX

/* Slot s < WIN is frame s of window A; slot WIN + k is frame k of window B.
 * attr = type | access << 4 | sve << 8; unmapped: mfn UNMAPPED, attr 0. */
static uint64_t m_mfn[NSLOTS];
static uint16_t m_attr[NSLOTS];
/* The op range's previous state, and per-frame marks (op-relative). */
static uint64_t old_mfn[WIN];
static uint16_t old_attr[WIN];
static uint8_t marks[WIN];
#define MARK_OBS 1u
#define MARK_BBM 2u

struct fz {
    struct vc_p2m *p;
    enum vc_p2m_format_id id;
    unsigned int p2m_flags, fmt_flags;
    bool bbm;                       /* format needs break-before-make */
    unsigned int order0, bpl, root_level;
    unsigned int orders[6], nl;     /* usable leaf orders, ascending */
    uint64_t ia, oa, g;             /* input/output frames; frames per granule */
    uint64_t wbase[2], wlen[2];     /* the two model windows (wlen[1] may be 0) */
    uint64_t dlo[2], dhi[2];        /* dirty extents (gfn) of each window */
    uint64_t mapped;                /* mapped frames in the model */
    uint64_t pt_live_empty;         /* hosted page-table bytes of an empty p2m */
    /* the operation in progress (callbacks) */
    bool in_op;
    uint64_t op_lo, op_hi;
    unsigned long bbm_calls;
};

static struct fz z;

static bool model_ready;

static void model_init(void)
{
    if (model_ready)
        return;
    memset(m_mfn, 0xff, sizeof(m_mfn));
    memset(m_attr, 0, sizeof(m_attr));
    model_ready = true;
}

/* The slot of a frame, or -1 outside both windows. */
static int64_t slot_of(uint64_t gfn)
{
    if (gfn < z.wlen[0])
        return (int64_t)gfn;
    if (z.wlen[1] && gfn >= z.wbase[1] && gfn - z.wbase[1] < z.wlen[1])
        return (int64_t)(WIN + (gfn - z.wbase[1]));
    return -1;
}

/* The window holding all of [gfn, gfn + nr) (nr >= 1, no wrap), or -1. */
static int window_of(uint64_t gfn, uint64_t nr)
{
    for (int w = 0; w < 2; w++)
        if (z.wlen[w] && gfn >= z.wbase[w] && nr <= z.wlen[w] &&
            gfn - z.wbase[w] <= z.wlen[w] - nr)
            return w;
    return -1;
}

static void dirty(int w, uint64_t lo, uint64_t hi)
{
    if (z.dlo[w] >= z.dhi[w]) {
        z.dlo[w] = lo;
        z.dhi[w] = hi;
    } else {
        if (lo < z.dlo[w])
            z.dlo[w] = lo;
        if (hi > z.dhi[w])
            z.dhi[w] = hi;
    }
}

static HOT void model_reset(void)
{
    for (int w = 0; w < 2; w++) {
        if (z.dlo[w] < z.dhi[w]) {
            size_t s = (size_t)slot_of(z.dlo[w]);
            size_t n = (size_t)(z.dhi[w] - z.dlo[w]);
            memset(&m_mfn[s], 0xff, n * sizeof(m_mfn[0]));
            memset(&m_attr[s], 0, n * sizeof(m_attr[0]));
        }
        z.dlo[w] = z.dhi[w] = 0;
    }
    z.mapped = 0;
}

static enum vc_memtype expect_mt(unsigned int type)
{
    return type == VC_P2M_MMIO_DIRECT ? VC_MT_UC : VC_MT_WB;
}

/* The permissions the format can encode for @rights (never more). */
static unsigned int expect_hw(unsigned int rights)
{
    switch (z.id) {
    case VC_P2M_FMT_EPT:
        /* write without read is a misconfiguration; execute-only only if
         * the CPU has it */
        if (!(rights & VC_PERM_R)) {
            rights &= ~(unsigned int)VC_PERM_W;
            if (z.fmt_flags & VC_FMT_F_NO_EXEC_ONLY)
                rights &= ~(unsigned int)VC_PERM_X;
        }
        return rights;
    case VC_P2M_FMT_X86_64:
        return (rights & VC_PERM_R) ? rights : 0; /* present implies readable */
    case VC_P2M_FMT_ARM_S2:
        break;
    }
    return rights;
}

static unsigned int lorder(unsigned int level)
{
    return z.order0 + level * z.bpl;
}

/* ---- comparing the p2m with the model ----------------------------------------- */

/* The fields of a leaf visit / lookup that derive from type and access. */
static void check_derived(const struct vc_p2m_entry *e, const char *what, uint64_t gfn)
{
    unsigned int rights;

    if (e->type <= VC_P2M_INVALID || e->type >= VC_P2M_NR_TYPES ||
        (unsigned int)e->access >= VC_ACCESS_NR)
        fail("%s %#llx: bad type %u or access %u", what, (unsigned long long)gfn,
             (unsigned int)e->type, (unsigned int)e->access);
    rights = vc_p2m_rights(e->type, e->access);
    if (e->rights != rights)
        fail("%s %#llx: rights %#x, expected %#x", what, (unsigned long long)gfn, e->rights,
             rights);
    if (e->hw_perms != expect_hw(rights))
        fail("%s %#llx: hw_perms %#x, expected %#x (rights %#x)", what,
             (unsigned long long)gfn, e->hw_perms, expect_hw(rights), rights);
    if (e->mt != expect_mt(e->type))
        fail("%s %#llx: memory type %u for type %u", what, (unsigned long long)gfn,
             (unsigned int)e->mt, (unsigned int)e->type);
}

struct cmp_ctx {
    uint64_t lo, hi; /* frames compared (inside one window) */
    int64_t slot_lo; /* the slot of lo */
    uint64_t seen;   /* mapped frames of the p2m in [lo, hi) */
};

static HOT int cmp_cb(const struct vc_p2m_visit *v, void *arg)
{
    struct cmp_ctx *c = arg;
    uint64_t g0 = vc_gfn_x(v->gfn), n = UINT64_C(1) << v->order;
    uint64_t base = v->pte.addr >> 12, a, b;
    uint16_t attr;
    int64_t s;

    if (v->order != lorder(v->level) || (g0 & (n - 1)))
        fail("walk: leaf %#llx level %u has order %u", (unsigned long long)g0, v->level,
             v->order);
    if (vc_mfn_x(v->entry.mfn) != base)
        fail("walk: leaf %#llx: entry mfn %#llx, pte base %#llx", (unsigned long long)g0,
             (unsigned long long)vc_mfn_x(v->entry.mfn), (unsigned long long)base);
    check_derived(&v->entry, "walk leaf", g0);
    attr = (uint16_t)(v->entry.type | v->entry.access << 4 | (v->entry.sve ? ATTR_SVE : 0));
    a = g0 > c->lo ? g0 : c->lo;
    b = g0 + n < c->hi ? g0 + n : c->hi;
    if (a >= b)
        return 0;
    /* [lo, hi) lies in one window: its slots are contiguous */
    s = c->slot_lo + (int64_t)(a - c->lo);
    for (uint64_t f = a; f < b; f++, s++) {
        if (m_mfn[s] != base + (f - g0) || m_attr[s] != attr)
            fail("gfn %#llx: p2m mfn %#llx attr %#x, model mfn %#llx attr %#x",
                 (unsigned long long)f, (unsigned long long)(base + (f - g0)), attr,
                 (unsigned long long)m_mfn[s], m_attr[s]);
    }
    c->seen += b - a;
    return 0;
}

/* Compare frames [lo, hi) (inside one window) with the model. */
static HOT void compare(uint64_t lo, uint64_t hi)
{
    struct cmp_ctx c = {lo, hi, slot_of(lo), 0};
    struct vc_p2m_walker w = {cmp_cb, &c, VC_VISIT_LEAF};
    uint64_t mapped = 0;
    int rc;

    if (lo >= hi)
        return;
    if (c.slot_lo < 0 || window_of(lo, hi - lo) < 0)
        fail("compare [%#llx, %#llx): not inside a window", (unsigned long long)lo,
             (unsigned long long)hi);
    rc = vc_p2m_walk(z.p, vc_gfn(lo), hi - lo, &w);
    if (rc)
        fail("walk [%#llx, %#llx): %s", (unsigned long long)lo, (unsigned long long)hi,
             vc_errname(rc));
    for (uint64_t k = 0; k < hi - lo; k++)
        mapped += m_mfn[c.slot_lo + (int64_t)k] != UNMAPPED;
    if (mapped != c.seen)
        fail("[%#llx, %#llx): p2m maps %llu frames, model %llu", (unsigned long long)lo,
             (unsigned long long)hi, (unsigned long long)c.seen, (unsigned long long)mapped);
}

/* Compare [lo, hi) clipped to each window. */
static void compare_clipped(uint64_t lo, uint64_t hi)
{
    for (int w = 0; w < 2; w++) {
        uint64_t a, b;
        if (!z.wlen[w])
            continue;
        a = lo > z.wbase[w] ? lo : z.wbase[w];
        b = hi < z.wbase[w] + z.wlen[w] ? hi : z.wbase[w] + z.wlen[w];
        if (a < b)
            compare(a, b);
    }
}

static void audit(void)
{
    const char *msg = NULL;
    int rc = vc_p2m_audit(z.p, &msg);

    if (rc)
        fail("audit: %s (%s)", msg ? msg : "?", vc_errname(rc));
}

/* One lookup, checked against the model (the frame and its whole leaf or
 * empty span, as far as the model and a bounded neighbourhood reach). */
static HOT void check_lookup(uint64_t gfn, bool unlocked)
{
    struct vc_p2m_entry e;
    int64_t s;
    int rc;
    bool mapped, order_ok = false;
    uint64_t n, lo, hi;

    memset(&e, 0xa5, sizeof(e)); /* every field must be written */
    rc = unlocked ? vc_p2m_lookup_unlocked(z.p, vc_gfn(gfn), &e)
                  : vc_p2m_lookup(z.p, vc_gfn(gfn), &e);
    if (gfn >= z.ia) {
        if (rc != VC_ERANGE)
            fail("lookup %#llx past the input space: %s", (unsigned long long)gfn,
                 vc_errname(rc));
        return;
    }
    if (rc)
        fail("lookup %#llx: %s", (unsigned long long)gfn, vc_errname(rc));
    s = slot_of(gfn);
    mapped = s >= 0 && m_mfn[s] != UNMAPPED;
    for (unsigned int l = 0; l <= z.root_level; l++)
        order_ok |= e.order == lorder(l);
    if (!order_ok)
        fail("lookup %#llx: order %u is no level's", (unsigned long long)gfn, e.order);
    if (!mapped) {
        if (e.type != VC_P2M_INVALID || vc_mfn_valid(e.mfn) || e.rights != 0)
            fail("lookup %#llx: unmapped in the model, p2m type %u mfn %#llx rights %#x",
                 (unsigned long long)gfn, (unsigned int)e.type,
                 (unsigned long long)vc_mfn_x(e.mfn), e.rights);
    } else {
        uint16_t attr = (uint16_t)(e.type | e.access << 4 | (e.sve ? ATTR_SVE : 0));
        if (vc_mfn_x(e.mfn) != m_mfn[s] || attr != m_attr[s])
            fail("lookup %#llx: p2m mfn %#llx attr %#x, model mfn %#llx attr %#x",
                 (unsigned long long)gfn, (unsigned long long)vc_mfn_x(e.mfn), attr,
                 (unsigned long long)m_mfn[s], m_attr[s]);
        check_derived(&e, "lookup", gfn);
    }
    /* The reported span [gfn & ~(2^order - 1), +2^order) is one leaf or one
     * empty entry: within reach, the model agrees. */
    if (e.order >= 64)
        return;
    n = UINT64_C(1) << e.order;
    lo = gfn & ~(n - 1);
    hi = lo + n;
    if (lo + 2048 < gfn)
        lo = gfn - 2048;
    if (hi > gfn + 2048)
        hi = gfn + 2048;
    for (uint64_t f = lo; f < hi; f++) {
        int64_t t = slot_of(f);
        if (!mapped) {
            if (t >= 0 && m_mfn[t] != UNMAPPED)
                fail("lookup %#llx: unmapped span of order %u holds mapped gfn %#llx",
                     (unsigned long long)gfn, e.order, (unsigned long long)f);
        } else if (t < 0 || m_mfn[t] != m_mfn[s] + (f - gfn) || m_attr[t] != m_attr[s]) {
            fail("lookup %#llx: leaf of order %u, but gfn %#llx differs in the model",
                 (unsigned long long)gfn, e.order, (unsigned long long)f);
        }
    }
}

/* ---- snapshots (for the allocation-failure check) ------------------------------ */

/* No padding: snapshots are compared bytewise. */
struct snap_ent {
    uint64_t gfn, raw;
    uint64_t meta; /* level | access << 8 | sve << 16 */
};

struct snap {
    struct snap_ent *e;
    size_t n, cap;
};

_Static_assert(sizeof(struct snap_ent) == 24, "struct snap_ent has padding");

static struct snap snap_before, snap_after;

static HOT int snap_cb(const struct vc_p2m_visit *v, void *arg)
{
    struct snap *s = arg;

    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->e = realloc(s->e, s->cap * sizeof(*s->e));
        if (!s->e)
            fail("out of memory");
    }
    s->e[s->n].gfn = vc_gfn_x(v->gfn);
    s->e[s->n].raw = v->raw;
    s->e[s->n].meta = v->level;
    /* side-array fields (ARM) are not in the raw entry */
    if (v->kind == VC_VISIT_LEAF)
        s->e[s->n].meta |= (uint64_t)v->entry.access << 8 | (uint64_t)v->entry.sve << 16;
    s->n++;
    return 0;
}

/* Every entry of every table, in walk order. */
static void snapshot(struct snap *s)
{
    struct vc_p2m_walker w = {snap_cb, s,
                              VC_VISIT_LEAF | VC_VISIT_TABLE_PRE | VC_VISIT_EMPTY};
    int rc;

    s->n = 0;
    rc = vc_p2m_walk(z.p, vc_gfn(0), z.ia, &w);
    if (rc)
        fail("snapshot walk: %s", vc_errname(rc));
}

static HOT bool snap_equal(const struct snap *a, const struct snap *b)
{
    return a->n == b->n && memcmp(a->e, b->e, a->n * sizeof(*a->e)) == 0;
}

/* ---- callbacks: observer and break-before-make ---------------------------------- */

struct obs_rec {
    struct vc_p2m_change c;
};

static struct obs_rec *recs;
static size_t nrecs, caprecs;

static void obs_cb(void *arg, const struct vc_p2m_change *c)
{
    (void)arg;
    if (!z.in_op)
        fail("observer called outside an operation");
    if (nrecs == caprecs) {
        caprecs = caprecs ? caprecs * 2 : 1024;
        recs = realloc(recs, caprecs * sizeof(*recs));
        if (!recs)
            fail("out of memory");
    }
    recs[nrecs++].c = *c;
}

static HOT void bbm_cb(void *arg, vc_gfn_t gfn, unsigned int order)
{
    uint64_t g = vc_gfn_x(gfn), n, a, b;
    struct vc_p2m_entry e;
    int rc;

    (void)arg;
    z.bbm_calls++;
    if (!z.bbm)
        fail("bbm_flush called on a format without break-before-make");
    if (!z.in_op || order >= 64 || (g & ((UINT64_C(1) << order) - 1)))
        fail("bbm_flush(%#llx, order %u): misaligned or outside an operation",
             (unsigned long long)g, order);
    n = UINT64_C(1) << order;
    /* Break: the entry is already invalid when the invalidation runs. */
    rc = vc_p2m_lookup_unlocked(z.p, gfn, &e);
    if (rc || e.type != VC_P2M_INVALID)
        fail("bbm_flush(%#llx, order %u): entry still valid (%s, type %u)",
             (unsigned long long)g, order, vc_errname(rc), (unsigned int)e.type);
    if (g + n - 1 < z.ia) {
        rc = vc_p2m_lookup_unlocked(z.p, vc_gfn(g + n - 1), &e);
        if (rc || e.type != VC_P2M_INVALID)
            fail("bbm_flush(%#llx, order %u): last frame still valid",
                 (unsigned long long)g, order);
    }
    /* Mark the frames of the operation's range it covers. */
    a = g > z.op_lo ? g : z.op_lo;
    b = g + n < z.op_hi ? g + n : z.op_hi;
    for (uint64_t f = a; f < b; f++)
        marks[f - z.op_lo] |= MARK_BBM;
}

/* ---- decoding operations -------------------------------------------------------- */

enum op_kind { K_MAP, K_UNMAP, K_TYPE, K_ACCESS, K_SVE, K_ENTRY, K_LOOKUP };

struct fop {
    enum op_kind kind;
    uint64_t gfn, nr, mfn;
    unsigned int type, from, access, order;
    bool sve, unlocked, null_flush, inject;
    unsigned long nth;
};

struct reader {
    const uint8_t *p;
    size_t n;
};

static uint8_t rd(struct reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

/* Interesting 64-bit values around the edges of a space of @lim frames. */
static uint64_t special(unsigned int sel, uint64_t v, uint64_t lim)
{
    switch (sel & 7) {
    case 0:
        return v;
    case 1:
        return lim - v;
    case 2:
        return lim + v;
    case 3:
        return UINT64_MAX - v;
    case 4:
        return (UINT64_C(1) << 63) + v;
    case 5:
        return v << 24;
    case 6:
        return 0;
    default:
        return UINT64_C(1) << (v & 63);
    }
}

static void decode_op(struct reader *r, struct fop *op)
{
    uint8_t c[OP_BYTES];
    unsigned int mode, mmode, top;
    bool raw, misalign, hot;
    uint64_t off, n16, m24;
    uint64_t b1 = UINT64_C(1) << z.orders[z.nl > 1 ? 1 : 0];
    uint64_t b2 = UINT64_C(1) << z.orders[z.nl > 2 ? 2 : z.nl - 1];
    static const enum op_kind kinds[8] = {K_MAP, K_MAP, K_UNMAP, K_TYPE,
                                          K_ACCESS, K_SVE, K_ENTRY, K_LOOKUP};

    for (unsigned int i = 0; i < OP_BYTES; i++)
        c[i] = rd(r);
    memset(op, 0, sizeof(*op));
    op->kind = kinds[c[0] & 7];
    op->unlocked = (c[0] >> 3) & 1;
    mode = c[1] & 7;
    raw = (c[1] >> 3) & 1;      /* raw type/access/order values: often invalid */
    misalign = (c[1] >> 4) & 1; /* do not round frames to the granule */
    top = c[1] >> 5;
    op->inject = top == 5 || top == 6;
    op->null_flush = top == 7;
    off = (uint64_t)c[2] << 16 | (uint64_t)c[3] << 8 | c[4];
    n16 = (uint64_t)c[5] << 8 | c[6];
    m24 = (uint64_t)c[7] << 16 | (uint64_t)c[8] << 8 | c[9];
    if (b2 > WIN / 4)
        b2 = WIN / 4;

    /* Frames and count. Half the time (top bit of the offset clear) the
     * frames come from a small hot region, so that operations overlap,
     * split each other's superpages and fill each other's tables. */
    hot = !(off & 0x800000);
    switch (mode) {
    case 0: /* small, low in window A */
        op->gfn = off & (hot ? 0x7ff : 0xffff);
        op->nr = 1 + (n16 & 31);
        break;
    case 1: /* medium, low in window A */
        op->gfn = off & (hot ? 0x7ff : 0xffff);
        op->nr = 1 + (n16 & 2047);
        break;
    case 2: /* around a superpage boundary */
        op->gfn = ((off >> 8) & (hot ? 3 : 63)) * b1 + (uint64_t)(int64_t)(int8_t)(off & 0xff);
        op->nr = 1 + n16 % 600;
        break;
    case 3:   /* superpage-sized, with a granule more or less */
    case 4: { /* largest-leaf-sized */
        uint64_t b = mode == 3 ? b1 : b2;
        op->gfn = (off % (hot ? 4 : WIN / b)) * b;
        op->nr = (mode == 3 ? 1 + (n16 & 3) : 1) * b;
        switch ((n16 >> 2) & 3) {
        case 1:
            op->nr -= z.g;
            break;
        case 2:
            op->gfn += z.g;
            break;
        case 3:
            op->nr += z.g;
            break;
        }
        break;
    }
    case 5: /* the top of the input space (window B), crossing it at times */
        if ((n16 >> 15) & 1) {
            op->gfn = z.ia - b1 * (1 + (off & 7));
            op->nr = b1 * (1 + ((n16 >> 8) & 7));
        } else {
            op->gfn = z.ia - 1 - (off & (hot ? 0x7ff : 0xffff));
            op->nr = 1 + (n16 & 4095);
        }
        break;
    case 6: /* wild: edges of the 64-bit and input spaces, zero, huge */
        op->gfn = special(c[2] >> 5, off & 0x1fff, z.ia);
        op->nr = special(c[5] >> 5, n16 & 0x1fff, z.ia);
        break;
    default: /* many superpages */
        op->gfn = (off & (hot ? 3 : 31)) * b1;
        op->nr = (1 + (n16 & 63)) * b1;
        break;
    }
    if (!misalign) {
        op->gfn &= ~(z.g - 1);
        op->nr = (op->nr + z.g - 1) & ~(z.g - 1);
    }

    /* Machine frames. */
    mmode = c[7] >> 6;
    switch (mmode) {
    case 0: /* same alignment as gfn up to 1 GiB: superpages possible */
        op->mfn = (op->gfn & (WIN - 1)) + (1 + (c[8] & 3)) * (UINT64_C(1) << 18);
        break;
    case 1: /* arbitrary: mostly small pages */
        op->mfn = m24 & 0x3fffff;
        break;
    case 2: /* the top of the output space */
        op->mfn = z.oa - 1 - (m24 & 0xffff);
        break;
    default: /* wild */
        op->mfn = special(c[8] >> 5, c[9], z.oa);
        break;
    }
    if (!misalign)
        op->mfn &= ~(z.g - 1);

    /* Type, access, sve, order. */
    if (op->kind == K_TYPE) {
        op->from = raw ? (c[10] & 15u) : 1 + (c[10] & 3u);
        op->type = raw ? (c[10] >> 4) : 1 + ((c[10] >> 4) % 8u);
    } else if (op->kind == K_ENTRY) {
        op->type = raw ? (c[10] & 15u) : c[10] % 9u; /* 0: unmap */
    } else {
        op->type = raw ? (c[10] & 15u) : 1 + c[10] % 8u;
    }
    op->access = raw ? (c[11] & 15u) : c[11] % 10u;
    op->sve = c[11] & 1;
    if (op->kind == K_ENTRY) {
        if (raw) {
            op->order = c[12];
        } else {
            int o = (int)z.orders[c[12] % z.nl] + (int)((c[12] >> 4) % 3) - 1;
            op->order = o < 0 ? 0 : (unsigned int)o;
        }
        if (!misalign && op->order < 64) {
            op->gfn &= ~((UINT64_C(1) << op->order) - 1);
            op->mfn &= ~((UINT64_C(1) << op->order) - 1);
        }
        op->nr = op->order < 64 ? UINT64_C(1) << op->order : 0;
    }
    op->nth = 1 + c[13] % 12u;
}

/* ---- the expected result of an operation ------------------------------------------ */

#define EBIT(e) (1u << (unsigned int)(-(e)))

/* Errors a frame range calls for (the checks of every range operation). */
static unsigned int range_errors(uint64_t start, uint64_t nr, uint64_t limit, bool aligned)
{
    unsigned int errs = 0;
    uint64_t end = start + nr;

    if (nr == 0) {
        errs |= EBIT(VC_EINVAL);
        if (start >= limit)
            errs |= EBIT(VC_ERANGE);
    } else if (end == 0) {
        /* [start, 2^64): ends exactly at the top; wraps or passes the width */
        errs |= EBIT(VC_EOVERFLOW) | EBIT(VC_ERANGE);
    } else if (end < start) {
        errs |= EBIT(VC_EOVERFLOW);
    } else if (end > limit) {
        errs |= EBIT(VC_ERANGE);
    }
    if (!aligned)
        errs |= EBIT(VC_EALIGN);
    return errs;
}

static bool granule_aligned(uint64_t v)
{
    return (v & (z.g - 1)) == 0;
}

static bool valid_type(unsigned int t)
{
    return t > VC_P2M_INVALID && t < VC_P2M_NR_TYPES;
}

static bool valid_access(unsigned int a)
{
    return a < VC_ACCESS_NR;
}

static unsigned int expected_errors(const struct fop *op)
{
    unsigned int errs = 0;
    bool gal = granule_aligned(op->gfn) && granule_aligned(op->nr);

    if (op->null_flush && op->kind != K_LOOKUP)
        errs |= EBIT(VC_EINVAL);
    switch (op->kind) {
    case K_MAP:
        if (!valid_type(op->type) || !valid_access(op->access))
            errs |= EBIT(VC_EINVAL);
        errs |= range_errors(op->gfn, op->nr, z.ia, gal);
        errs |= range_errors(op->mfn, op->nr, z.oa, granule_aligned(op->mfn));
        break;
    case K_UNMAP:
    case K_SVE:
        errs |= range_errors(op->gfn, op->nr, z.ia, gal);
        break;
    case K_TYPE:
        if (!valid_type(op->from) || !valid_type(op->type))
            errs |= EBIT(VC_EINVAL);
        errs |= range_errors(op->gfn, op->nr, z.ia, gal);
        break;
    case K_ACCESS:
        if (!valid_access(op->access))
            errs |= EBIT(VC_EINVAL);
        errs |= range_errors(op->gfn, op->nr, z.ia, gal);
        break;
    case K_ENTRY:
        if (op->order > 63)
            return errs | EBIT(VC_EINVAL);
        if (!valid_access(op->access) || (op->type != VC_P2M_INVALID && !valid_type(op->type)))
            errs |= EBIT(VC_EINVAL);
        errs |= range_errors(op->gfn, op->nr, z.ia,
                             gal && (op->gfn & (op->nr - 1)) == 0);
        if (op->type != VC_P2M_INVALID) /* the mfn is ignored when unmapping */
            errs |= range_errors(op->mfn, op->nr, z.oa,
                                 granule_aligned(op->mfn) && (op->mfn & (op->nr - 1)) == 0);
        break;
    case K_LOOKUP:
        break;
    }
    return errs;
}

/* ---- running one operation --------------------------------------------------------- */

static int call_op(const struct fop *op, struct vc_flush *f)
{
    struct vc_flush *fl = op->null_flush ? NULL : f;
    vc_gfn_t g = vc_gfn(op->gfn);

    switch (op->kind) {
    case K_MAP:
        return vc_p2m_map(z.p, g, vc_mfn(op->mfn), op->nr, (enum vc_p2m_type)op->type,
                          (enum vc_p2m_access)op->access, fl);
    case K_UNMAP:
        return vc_p2m_unmap(z.p, g, op->nr, fl);
    case K_TYPE:
        return vc_p2m_change_type(z.p, g, op->nr, (enum vc_p2m_type)op->from,
                                  (enum vc_p2m_type)op->type, fl);
    case K_ACCESS:
        return vc_p2m_set_access(z.p, g, op->nr, (enum vc_p2m_access)op->access, fl);
    case K_SVE:
        return vc_p2m_set_suppress_ve(z.p, g, op->nr, op->sve, fl);
    case K_ENTRY:
        return vc_p2m_set_entry(z.p, g, vc_mfn(op->mfn), op->order, (enum vc_p2m_type)op->type,
                                (enum vc_p2m_access)op->access, fl);
    case K_LOOKUP:
        break;
    }
    return 0;
}

static bool flush_untouched(const struct vc_flush *f)
{
    return f->kind == VC_FLUSH_NONE && !f->whole && f->nr_ranges == 0 && !f->deferred &&
           !f->deferred_last && f->nr_deferred == 0;
}

/* The model's new state of frame @k of the op (op-relative). */
static void model_new(const struct fop *op, uint64_t k, uint64_t *mfn, uint16_t *attr)
{
    bool mapped = *mfn != UNMAPPED;

    switch (op->kind) {
    case K_ENTRY:
        if (op->type == VC_P2M_INVALID)
            goto unmap;
        /* fall through */
    case K_MAP:
        /* a map resets suppress-#VE to set */
        *mfn = op->mfn + k;
        *attr = (uint16_t)(op->type | op->access << 4 | ATTR_SVE);
        return;
    case K_UNMAP:
    unmap:
        *mfn = UNMAPPED;
        *attr = 0;
        return;
    case K_TYPE:
        if (mapped && (*attr & 15u) == op->from)
            *attr = (uint16_t)((*attr & ~15u) | op->type);
        return;
    case K_ACCESS:
        if (mapped)
            *attr = (uint16_t)((*attr & ~0xf0u) | op->access << 4);
        return;
    case K_SVE:
        if (mapped)
            *attr = (uint16_t)((*attr & ~ATTR_SVE) | (op->sve ? ATTR_SVE : 0));
        return;
    case K_LOOKUP:
        return;
    }
}

/* Apply a successful op to the model and check the flush, the observer
 * records and the break-before-make calls against the frames that changed. */
static HOT void apply_and_check(const struct fop *op, const struct vc_flush *f)
{
    int64_t s0 = slot_of(op->gfn);
    int w = window_of(op->gfn, op->nr);
    bool any_changed = false, any_mod = false;

    dirty(w, op->gfn, op->gfn + op->nr);
    for (uint64_t k = 0; k < op->nr; k++) {
        uint64_t mfn = m_mfn[s0 + k];
        uint16_t attr = m_attr[s0 + k];

        old_mfn[k] = mfn;
        old_attr[k] = attr;
        model_new(op, k, &mfn, &attr);
        m_mfn[s0 + k] = mfn;
        m_attr[s0 + k] = attr;
        if (old_mfn[k] == UNMAPPED && mfn != UNMAPPED)
            z.mapped++;
        else if (old_mfn[k] != UNMAPPED && mfn == UNMAPPED)
            z.mapped--;
    }

    /* Observer records: inside the op, consistent with the new state; the
     * was_mapped flag is exact. */
    for (size_t i = 0; i < nrecs; i++) {
        const struct vc_p2m_change *c = &recs[i].c;
        uint64_t g = vc_gfn_x(c->gfn);
        bool was = false;

        if (c->nr == 0 || g < op->gfn || c->nr > op->nr || g - op->gfn > op->nr - c->nr)
            fail("observer: change [%#llx, +%#llx) outside the op [%#llx, +%#llx)",
                 (unsigned long long)g, (unsigned long long)c->nr,
                 (unsigned long long)op->gfn, (unsigned long long)op->nr);
        for (uint64_t j = 0; j < c->nr; j++) {
            uint64_t k = g - op->gfn + j;
            uint64_t mfn = c->type == VC_P2M_INVALID ? UNMAPPED : vc_mfn_x(c->mfn) + j;
            uint16_t attr = c->type == VC_P2M_INVALID
                                ? 0
                                : (uint16_t)(c->type | c->access << 4 |
                                             (c->sve ? ATTR_SVE : 0));
            if (m_mfn[s0 + k] != mfn || m_attr[s0 + k] != attr)
                fail("observer: gfn %#llx reported as mfn %#llx attr %#x, model %#llx %#x",
                     (unsigned long long)(g + j), (unsigned long long)mfn, attr,
                     (unsigned long long)m_mfn[s0 + k], m_attr[s0 + k]);
            was |= old_mfn[k] != UNMAPPED;
            marks[k] |= MARK_OBS;
        }
        if (was != c->was_mapped)
            fail("observer: change at %#llx says was_mapped=%d, model %d",
                 (unsigned long long)g, c->was_mapped, was);
    }

    for (uint64_t k = 0, covered_to = 0; k < op->nr; k++) {
        uint64_t gfn = op->gfn + k, mfn = m_mfn[s0 + k];
        uint16_t attr = m_attr[s0 + k];
        bool was_mapped = old_mfn[k] != UNMAPPED;

        if (mfn == old_mfn[k] && attr == old_attr[k])
            continue;
        any_changed = true;
        any_mod |= was_mapped;
        if (gfn >= covered_to) {
            /* vc_flush_covers() is the oracle; the range it found lets the
             * following frames of the same range skip the call */
            if (!vc_flush_covers(f, gfn))
                fail("flush (kind %s) does not cover changed gfn %#llx",
                     vc_flush_kind_name(f->kind), (unsigned long long)gfn);
            covered_to = gfn + 1;
            for (unsigned int r = 0; r < f->nr_ranges; r++)
                if (gfn >= f->ranges[r].start && gfn < f->ranges[r].end)
                    covered_to = f->ranges[r].end;
            if (f->whole)
                covered_to = UINT64_MAX;
        }
        if (!(marks[k] & MARK_OBS))
            fail("observer not told about changed gfn %#llx", (unsigned long long)gfn);
        /* ARM: an output or memory-type change of a valid entry needs a break */
        if (z.bbm && was_mapped && mfn != UNMAPPED &&
            (mfn != old_mfn[k] || expect_mt(attr & 15u) != expect_mt(old_attr[k] & 15u)) &&
            !(marks[k] & MARK_BBM))
            fail("gfn %#llx changed output/memory type without break-before-make",
                 (unsigned long long)gfn);
    }

    /* The flush kind: MODIFIED at least once a mapped frame changed; for
     * pure additions ADDED (or STRUCTURAL, when tables were merged or
     * replaced) but not MODIFIED; nothing at all for a no-op (with merging
     * off, replacing an equivalent table by a leaf is a legal STRUCTURAL
     * no-op). */
    if (any_mod) {
        if (f->kind < VC_FLUSH_MODIFIED)
            fail("flush kind %s, but mapped frames changed", vc_flush_kind_name(f->kind));
    } else if (any_changed) {
        if (f->kind != VC_FLUSH_ADDED && f->kind != VC_FLUSH_STRUCTURAL)
            fail("flush kind %s for an operation that only filled empty frames",
                 vc_flush_kind_name(f->kind));
    } else if (f->kind != VC_FLUSH_NONE &&
               !((z.p2m_flags & VC_P2M_F_NO_MERGE) && f->kind == VC_FLUSH_STRUCTURAL)) {
        fail("flush kind %s for an operation that changed no frame",
             vc_flush_kind_name(f->kind));
    }
}

/* Start a valid in-window op: fresh flush, no observer records, no marks. */
static void begin_op(const struct fop *op, struct vc_flush *f)
{
    vc_flush_init(f);
    nrecs = 0;
    memset(marks, 0, (size_t)op->nr);
    z.op_lo = op->gfn;
    z.op_hi = op->gfn + op->nr;
    z.in_op = true;
}

static void run_op(const struct fop *op)
{
    unsigned int errs = expected_errors(op);
    struct vc_hosted_stats st0, st1;
    struct vc_flush f;
    bool valid = errs == 0;
    uint64_t margin = 512; /* frames: a whole table of 4K entries, 32 of 64K */
    unsigned long frees0;
    int rc;

    if (op->kind == K_LOOKUP) {
        if (trace)
            fprintf(stderr, "  op %lu lookup %#llx\n", cur_op_index, (unsigned long long)op->gfn);
        check_lookup(op->gfn, op->unlocked);
        return;
    }
    /* A valid operation outside the model's windows cannot be checked. */
    if (valid && window_of(op->gfn, op->nr) < 0) {
        if (trace)
            fprintf(stderr, "  op %lu kind %d gfn %#llx nr %#llx: valid, outside the model\n",
                    cur_op_index, op->kind, (unsigned long long)op->gfn,
                    (unsigned long long)op->nr);
        return;
    }

    vc_hosted_stats(hosted, &st0);
    if (!valid) {
        unsigned long bbm0 = z.bbm_calls;

        vc_flush_init(&f);
        z.in_op = true;
        z.op_lo = z.op_hi = 0;
        nrecs = 0;
        rc = call_op(op, &f);
        z.in_op = false;
        if (rc >= 0 || !(errs & EBIT(rc)))
            fail("op %d gfn %#llx nr %#llx mfn %#llx type %u/%u access %u order %u: "
                 "returned %s, expected one of mask %#x",
                 op->kind, (unsigned long long)op->gfn, (unsigned long long)op->nr,
                 (unsigned long long)op->mfn, op->from, op->type, op->access, op->order,
                 vc_errname(rc), errs);
        vc_hosted_stats(hosted, &st1);
        if (!flush_untouched(&f) || nrecs || z.bbm_calls != bbm0 ||
            st1.pt_live_bytes != st0.pt_live_bytes || st1.obj_live != st0.obj_live)
            fail("rejected op (%s) changed the flush, the observer or the host",
                 vc_errname(rc));
        if (trace)
            fprintf(stderr, "  op %lu kind %d gfn %#llx nr %#llx mfn %#llx t %u/%u a %u o %u: %s\n",
                    cur_op_index, op->kind, (unsigned long long)op->gfn,
                    (unsigned long long)op->nr, (unsigned long long)op->mfn, op->from, op->type,
                    op->access, op->order, vc_errname(rc));
        if (op->gfn < z.ia)
            compare_clipped(op->gfn > margin ? op->gfn - margin : 0, op->gfn + margin);
        return;
    }

    /* Allocation failure: VC_ENOMEM with nothing changed, then a retry. */
    if (op->inject) {
        unsigned long bbm0 = z.bbm_calls;

        snapshot(&snap_before);
        vc_hosted_stats(hosted, &st0);
        begin_op(op, &f);
        arm_failure(op->nth);
        frees0 = frees;
        rc = call_op(op, &f);
        disarm_failure();
        z.in_op = false;
        if (!injected) {
            /* Fewer allocations than N: the op simply ran. */
            if (rc != 0)
                fail("valid op returned %s", vc_errname(rc));
            goto applied;
        }
        if (rc != VC_ENOMEM)
            fail("allocation %lu failed, op returned %s", op->nth, vc_errname(rc));
        if (!flush_untouched(&f))
            fail("failed op touched the flush");
        if (nrecs)
            fail("failed op reported %zu changes to the observer", nrecs);
        if (z.bbm_calls != bbm0)
            fail("failed op called bbm_flush");
        vc_hosted_stats(hosted, &st1);
        if (st1.pt_live_bytes != st0.pt_live_bytes || st1.obj_live != st0.obj_live)
            fail("failed op leaked: %llu -> %llu pt bytes, %llu -> %llu objects",
                 (unsigned long long)st0.pt_live_bytes, (unsigned long long)st1.pt_live_bytes,
                 (unsigned long long)st0.obj_live, (unsigned long long)st1.obj_live);
        snapshot(&snap_after);
        if (!snap_equal(&snap_before, &snap_after))
            fail("failed op changed the tables (%zu -> %zu entries)", snap_before.n,
                 snap_after.n);
        audit();
        /* and now for real */
    }

    frees0 = frees;
    begin_op(op, &f);
    rc = call_op(op, &f);
    z.in_op = false;
    if (rc != 0)
        fail("op %d gfn %#llx nr %#llx mfn %#llx type %u/%u access %u order %u: %s",
             op->kind, (unsigned long long)op->gfn, (unsigned long long)op->nr,
             (unsigned long long)op->mfn, op->from, op->type, op->access, op->order,
             vc_errname(rc));
applied:
    /* Nothing goes back to the host before the flush completes (hardware
     * and unlocked lookups may still walk unlinked tables: XSA-346). */
    if (frees != frees0)
        fail("a successful op released %lu allocations before the flush completed",
             frees - frees0);
    apply_and_check(op, &f);
    if (trace)
        fprintf(stderr,
                "  op %lu kind %d gfn %#llx nr %#llx mfn %#llx t %u/%u a %u o %u: ok, flush %s"
                " ranges %u deferred %u, %zu observed, %lu bbm%s\n",
                cur_op_index, op->kind, (unsigned long long)op->gfn, (unsigned long long)op->nr,
                (unsigned long long)op->mfn, op->from, op->type, op->access, op->order,
                vc_flush_kind_name(f.kind), f.nr_ranges, f.nr_deferred, nrecs, z.bbm_calls,
                op->inject ? (injected ? ", after ENOMEM" : ", no injection") : "");
    vc_flush_complete(&f);
    audit();
    compare_clipped(op->gfn > margin ? op->gfn - margin : 0, op->gfn + op->nr + margin);
    check_lookup(op->gfn, op->unlocked);
    check_lookup(op->gfn + op->nr - 1, !op->unlocked);
    check_lookup(op->gfn + op->nr, op->unlocked);
}

/* ---- one input -------------------------------------------------------------------- */

static void setup(uint8_t b0, uint8_t b1)
{
    const struct fz_cfg *fc = &cfgs[b0 & 7];
    struct vc_p2m_config cfg = {0};
    const struct vc_p2m_format_cfg *c;
    const struct vc_p2m_format *fmt;
    struct vc_hosted_stats st0, st1;
    int rc;

    cur_cfg_name = fc->name;
    if (trace < 0) {
        const char *t = getenv("FUZZ_P2M_TRACE");
        trace = t && *t && *t != '0';
    }
    if (trace)
        fprintf(stderr, "config %s flags %#x\n", fc->name, b0);
    memset(&z, 0, sizeof(z));
    z.id = fc->id;
    cfg.format = fc->id;
    cfg.fmt = fc->fmt;
    if (b0 & 8)
        cfg.flags |= VC_P2M_F_NO_MERGE;
    if (b0 & 16)
        cfg.fmt.flags |= VC_FMT_F_NO_1G;
    if ((b0 & 64) && fc->id == VC_P2M_FMT_EPT)
        cfg.fmt.flags |= VC_FMT_F_NO_EXEC_ONLY;
    if (b0 & 32) {
        /* no leaves above the first superpage level */
        unsigned int gs = fc->fmt.granule_shift ? fc->fmt.granule_shift : 12;
        cfg.max_order = (gs - 12) + (gs == 12 ? 9 : gs == 14 ? 11 : 13);
    }
    cfg.bbm_flush = bbm_cb;
    cfg.bbm_arg = &z;
    z.p2m_flags = cfg.flags;
    z.fmt_flags = cfg.fmt.flags;

    vc_hosted_stats(hosted, &st0);
    if (b0 & 128) {
        /* Creation under allocation failure: VC_ENOMEM and nothing left. */
        arm_failure(1 + b1 % 6u);
        rc = vc_p2m_create(&wrap_host, &cfg, &z.p);
        disarm_failure();
        if (injected) {
            vc_hosted_stats(hosted, &st1);
            if (rc != VC_ENOMEM || st1.pt_live_bytes != st0.pt_live_bytes ||
                st1.obj_live != st0.obj_live)
                fail("create under allocation failure: %s, leak %llu bytes %llu objects",
                     vc_errname(rc),
                     (unsigned long long)(st1.pt_live_bytes - st0.pt_live_bytes),
                     (unsigned long long)(st1.obj_live - st0.obj_live));
            z.p = NULL;
        } else if (rc != 0) {
            fail("create: %s", vc_errname(rc));
        }
    }
    if (!z.p) {
        rc = vc_p2m_create(&wrap_host, &cfg, &z.p);
        if (rc)
            fail("create: %s", vc_errname(rc));
    }
    if (vc_p2m_set_observer(z.p, obs_cb, &z) != 0)
        fail("set_observer");

    c = vc_p2m_format_cfg(z.p);
    fmt = vc_p2m_format(z.p);
    z.bbm = fmt->needs_bbm;
    z.order0 = c->granule_shift - 12;
    z.bpl = c->bits_per_level;
    z.root_level = c->root_level;
    z.ia = UINT64_C(1) << (c->ia_bits - 12);
    z.oa = UINT64_C(1) << (c->oa_bits - 12);
    z.g = UINT64_C(1) << z.order0;
    for (unsigned int l = 0; l <= c->root_level; l++)
        if (fmt->leaf_ok(c, l) && (cfg.max_order == 0 || lorder(l) <= cfg.max_order))
            z.orders[z.nl++] = lorder(l);
    if (z.nl == 0)
        fail("no leaf level");
    z.wbase[0] = 0;
    z.wlen[0] = z.ia < WIN ? z.ia : WIN;
    z.wbase[1] = z.ia > 2 * WIN ? z.ia - WIN : z.wlen[0];
    z.wlen[1] = z.ia - z.wbase[1] < WIN ? z.ia - z.wbase[1] : WIN;
    vc_hosted_stats(hosted, &st1);
    z.pt_live_empty = st1.pt_live_bytes;
}

static void teardown(void)
{
    struct vc_hosted_stats st;
    struct vc_p2m_stats ps;
    struct vc_lock_tracker *t;
    struct vc_flush f;

    cur_op_index = ~0ul;
    /* The dirty parts of both windows, in full, and the global count. */
    for (int w = 0; w < 2; w++)
        if (z.dlo[w] < z.dhi[w])
            compare(z.dlo[w], z.dhi[w]);
    vc_p2m_stats(z.p, &ps);
    if (ps.mapped_frames != z.mapped)
        fail("p2m maps %llu frames, model %llu", (unsigned long long)ps.mapped_frames,
             (unsigned long long)z.mapped);

    /* Unmap everything: only the root remains, and after the flush its
     * bytes are all the page-table memory live. */
    vc_flush_init(&f);
    z.in_op = true;
    z.op_lo = z.op_hi = 0;
    for (int w = 0; w < 2; w++)
        if (z.wlen[w] && vc_p2m_unmap(z.p, vc_gfn(z.wbase[w]), z.wlen[w], &f) != 0)
            fail("final unmap failed");
    z.in_op = false;
    if (z.mapped && f.kind < VC_FLUSH_MODIFIED)
        fail("final unmap: flush kind %s", vc_flush_kind_name(f.kind));
    vc_flush_complete(&f);
    audit();
    vc_p2m_stats(z.p, &ps);
    if (ps.mapped_frames != 0)
        fail("after unmapping everything, %llu frames mapped",
             (unsigned long long)ps.mapped_frames);
    vc_hosted_stats(hosted, &st);
    if (st.pt_live_bytes != z.pt_live_empty)
        fail("after unmapping everything, %llu page-table bytes live (empty p2m: %llu)",
             (unsigned long long)st.pt_live_bytes, (unsigned long long)z.pt_live_empty);

    vc_p2m_destroy(z.p);
    z.p = NULL;
    vc_hosted_stats(hosted, &st);
    if (st.pt_live_bytes != 0 || st.obj_live != 0)
        fail("destroy left %llu page-table bytes and %llu objects",
             (unsigned long long)st.pt_live_bytes, (unsigned long long)st.obj_live);
    t = inner_ops->lock_tracker ? inner_ops->lock_tracker(wrap_host.cookie) : NULL;
    if (t && (t->violations || t->depth))
        fail("lock tracker: %lu violations, depth %u", t->violations, t->depth);
    model_reset();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader r = {data, size};
    uint8_t b0, b1;

    if (size < 2)
        return 0;
    host_init();
    model_init();
    b0 = rd(&r);
    b1 = rd(&r);
    cur_op_index = 0;
    setup(b0, b1);
    while (r.n > 0) {
        struct fop op;
        decode_op(&r, &op);
        run_op(&op);
        cur_op_index++;
    }
    teardown();
    return 0;
}
