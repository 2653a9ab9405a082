/* SPDX-License-Identifier: MIT */
/*
 * The p2m engine: a format-agnostic radix tree of hardware page tables.
 *
 * Every changing operation runs the same recursive routine twice:
 *
 *   1. COUNT: walks exactly the decisions the change will make, without
 *      writing anything, and counts the tables it will need per level. A
 *      table that the change would create (under an empty entry, or by
 *      splitting a superpage) is walked as a *virtual* table whose entries
 *      are derived from the entry it replaces.
 *   2. The tables are allocated (the only step that can fail; on failure
 *      they are freed and nothing has changed).
 *   3. APPLY: the same walk, now writing entries and drawing tables from
 *      the preallocated pool. It cannot fail.
 *
 * Because both passes share one code path, the count is exact: the pool is
 * empty when APPLY returns.
 *
 * Each table has a `struct node` with the bookkeeping hardware does not
 * need: the number of used entries, child node pointers (tables above
 * level 0), and a side array holding the p2m access and suppress-#VE bit
 * for formats whose entries lack software bits for them (ARM stage 2).
 * The node also embeds the vc_deferred_free link, so freeing a table never
 * allocates: it is handed to the caller's vc_flush and released by
 * vc_flush_complete() after the invalidation.
 */
#include <virtcore/p2m.h>

#include "internal/core.h"

#define MAX_LEVELS 6
#define SIDE_SVE 0x10u
#define SIDE_ACCESS 0x0fu

struct node {
    struct vc_deferred_free dfree; /* must stay first: released via container_of */
    struct vc_host host;   /* own copy: a deferred release may outlive the p2m */
    struct vc_p2m *p2m;    /* owner; never used after the node left the tree */
    uint64_t *va;          /* the table entries */
    vc_paddr_t pa;         /* physical address hardware uses */
    size_t size;           /* bytes of the table allocation */
    unsigned int level;    /* level of this table's entries */
    unsigned int nr;       /* number of entries */
    unsigned int used;     /* non-empty entries */
    struct node **child;   /* per entry: child table (levels >= 1) */
    uint8_t *side;         /* per entry: access | SIDE_SVE (side formats) */
    struct node *next;     /* preallocation pool link */
    unsigned long audit_gen;
};

struct vc_p2m {
    struct vc_host host;
    const struct vc_p2m_format *fmt;
    struct vc_p2m_format_cfg cfg;
    struct vc_p2m_config config;
    struct vc_lock lock;
    struct node *root;
    unsigned int order0;        /* frames order of a level-0 entry */
    unsigned int max_leaf;      /* highest level where leaves are allowed */
    bool side;                  /* access/sve live in node->side */
    uint64_t ia_frames;         /* 4K frames of input address space */
    uint64_t oa_frames;         /* 4K frames of output address space */
    vc_p2m_observer_fn obs;
    void *obs_arg;
    /* Side formats: even when no side byte + entry pair is being written
     * (a seqlock: lock-free lookups retry when it moved under them). */
    uint64_t side_seq;
    bool dmap;                  /* tables reachable at pa + dmap_off */
    intptr_t dmap_off;
    unsigned long audit_gen;
    uint64_t nr_tables;
};

/* A decoded entry with the software fields merged from wherever stored. */
struct ent {
    struct vc_pte pte;
    struct node *child; /* for VC_PTE_TABLE */
};

/* ---- types, access and rights ---------------------------------------------- */

static const uint8_t type_rights[16] = {
    [VC_P2M_RAM_RW] = VC_PERM_RWX,
    [VC_P2M_RAM_RO] = VC_PERM_R | VC_PERM_X,
    [VC_P2M_RAM_LOGDIRTY] = VC_PERM_R | VC_PERM_X,
    [VC_P2M_RAM_SHARED] = VC_PERM_R | VC_PERM_X,
    [VC_P2M_MMIO_DIRECT] = VC_PERM_R | VC_PERM_W,
    [VC_P2M_GRANT_RW] = VC_PERM_R | VC_PERM_W,
    [VC_P2M_GRANT_RO] = VC_PERM_R,
    /* INVALID, MMIO_DM and unknown values: none */
};

/* The first eight access values are the rwx bits themselves; RX2RW is rx
 * until its first write violation; N2RWX and unknown values give none. */
static const uint8_t access_rights[16] = {
    0, 1, 2, 3, 4, 5, 6, 7, [VC_ACCESS_RX2RW] = VC_PERM_R | VC_PERM_X,
};

unsigned int vc_p2m_type_rights(enum vc_p2m_type type)
{
    return (unsigned int)type < 16 ? type_rights[type] : 0;
}

unsigned int vc_p2m_access_rights(enum vc_p2m_access access)
{
    return (unsigned int)access < 16 ? access_rights[access] : 0;
}

unsigned int vc_p2m_rights(enum vc_p2m_type type, enum vc_p2m_access access)
{
    return vc_p2m_type_rights(type) & vc_p2m_access_rights(access);
}

const char *vc_p2m_type_name(enum vc_p2m_type type)
{
    static const char *const names[] = {
        [VC_P2M_INVALID] = "invalid",         [VC_P2M_RAM_RW] = "ram_rw",
        [VC_P2M_RAM_RO] = "ram_ro",           [VC_P2M_RAM_LOGDIRTY] = "ram_logdirty",
        [VC_P2M_MMIO_DIRECT] = "mmio_direct", [VC_P2M_MMIO_DM] = "mmio_dm",
        [VC_P2M_GRANT_RW] = "grant_rw",       [VC_P2M_GRANT_RO] = "grant_ro",
        [VC_P2M_RAM_SHARED] = "ram_shared",
    };
    return (unsigned int)type < VC_ARRAY_SIZE(names) ? names[type] : "?";
}

const char *vc_p2m_access_name(enum vc_p2m_access access)
{
    static const char *const names[] = {
        [VC_ACCESS_N] = "n",   [VC_ACCESS_R] = "r",         [VC_ACCESS_W] = "w",
        [VC_ACCESS_RW] = "rw", [VC_ACCESS_X] = "x",         [VC_ACCESS_RX] = "rx",
        [VC_ACCESS_WX] = "wx", [VC_ACCESS_RWX] = "rwx",     [VC_ACCESS_RX2RW] = "rx2rw",
        [VC_ACCESS_N2RWX] = "n2rwx",
    };
    return (unsigned int)access < VC_ARRAY_SIZE(names) ? names[access] : "?";
}

static enum vc_memtype type_memtype(unsigned int type)
{
    return type == VC_P2M_MMIO_DIRECT ? VC_MT_UC : VC_MT_WB;
}

/* ---- geometry --------------------------------------------------------------- */

/* log2 of the 4K frames one entry at @level spans. */
static unsigned int lorder(const struct vc_p2m *p, unsigned int level)
{
    return p->order0 + level * p->cfg.bits_per_level;
}

static bool leaf_allowed(const struct vc_p2m *p, unsigned int level)
{
    return level <= p->max_leaf && p->fmt->leaf_ok(&p->cfg, level);
}

/* ---- entry access ------------------------------------------------------------ */

static uint64_t load_raw(const struct node *n, unsigned int i)
{
    return __atomic_load_n(&n->va[i], __ATOMIC_ACQUIRE);
}

/*
 * On side formats a leaf is two words (the entry and its side byte), written
 * inside side_write_begin/end. Writers hold the p2m lock, so only the
 * lock-free lookup can see a half-written pair; it retries (side_read_*).
 */
static void side_write_begin(struct vc_p2m *p)
{
    if (p->side) {
        __atomic_store_n(&p->side_seq, p->side_seq + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
    }
}

static void side_write_end(struct vc_p2m *p)
{
    if (p->side)
        __atomic_store_n(&p->side_seq, p->side_seq + 1, __ATOMIC_RELEASE);
}

static void side_store(struct node *n, unsigned int i, uint8_t v)
{
    __atomic_store_n(&n->side[i], v, __ATOMIC_RELAXED);
}

/* The side byte of an entry: access and sve of a leaf, 0 otherwise. */
static uint8_t side_byte(const struct vc_pte *pte)
{
    if (pte->kind != VC_PTE_LEAF)
        return 0;
    return (uint8_t)((pte->access & SIDE_ACCESS) | (pte->sve ? SIDE_SVE : 0));
}

static int read_ent(const struct vc_p2m *p, const struct node *n, unsigned int i,
                    struct ent *e)
{
    int rc = p->fmt->decode(&p->cfg, n->level, load_raw(n, i), &e->pte);

    if (rc)
        return rc;
    e->child = NULL;
    if (e->pte.kind == VC_PTE_TABLE) {
        if (n->level == 0)
            return VC_ECORRUPT;
        e->child = __atomic_load_n(&n->child[i], __ATOMIC_ACQUIRE);
        if (!e->child || vc_paddr_x(e->child->pa) != e->pte.addr)
            return VC_ECORRUPT;
    } else if (e->pte.kind == VC_PTE_LEAF && p->side) {
        uint8_t s = __atomic_load_n(&n->side[i], __ATOMIC_RELAXED);
        if (!(p->fmt->sw_fields & VC_FMT_SW_ACCESS))
            e->pte.access = s & SIDE_ACCESS;
        if (!(p->fmt->sw_fields & VC_FMT_SW_SVE))
            e->pte.sve = (s & SIDE_SVE) != 0;
    }
    return 0;
}

/* A leaf with the p2m's derived permissions and memory type. */
static void make_leaf(struct vc_pte *pte, uint64_t addr, unsigned int type,
                      unsigned int access, bool sve)
{
    pte->kind = VC_PTE_LEAF;
    pte->addr = addr;
    pte->type = type;
    pte->access = access;
    pte->sve = sve;
    pte->perms = vc_p2m_rights((enum vc_p2m_type)type, (enum vc_p2m_access)access);
    pte->mt = type_memtype(type);
}

static bool same_leaf(const struct vc_pte *a, const struct vc_pte *b)
{
    return a->kind == VC_PTE_LEAF && b->kind == VC_PTE_LEAF && a->addr == b->addr &&
           a->type == b->type && a->access == b->access && a->sve == b->sve;
}

/* Whether replacing @old with @new needs break-before-make on this format. */
static bool needs_bbm(const struct vc_p2m *p, const struct vc_pte *old,
                      const struct vc_pte *new)
{
    if (!p->fmt->needs_bbm || old->kind == VC_PTE_EMPTY || new->kind == VC_PTE_EMPTY)
        return false;
    return old->kind != new->kind || old->addr != new->addr || old->mt != new->mt;
}

/*
 * Write entry @i of @n. @gfn is the first frame the entry spans. The
 * bookkeeping (child pointer, side byte, used count) is updated around the
 * single atomic store that publishes the entry: a new child pointer is set
 * before the entry points to it.
 */
static void write_ent(struct vc_p2m *p, struct node *n, unsigned int i, uint64_t gfn,
                      const struct vc_pte *old, const struct vc_pte *new, struct node *child)
{
    uint64_t raw = new->kind == VC_PTE_EMPTY ? 0 : p->fmt->encode(&p->cfg, n->level, new);

    if (needs_bbm(p, old, new)) {
        /* Break: invalidate, flush every cached copy, then make. */
        __atomic_store_n(&n->va[i], 0, __ATOMIC_RELEASE);
        p->config.bbm_flush(p->config.bbm_arg, vc_gfn(gfn), lorder(p, n->level));
    }
    if (n->level > 0 && new->kind == VC_PTE_TABLE)
        __atomic_store_n(&n->child[i], child, __ATOMIC_RELEASE);
    side_write_begin(p);
    if (p->side)
        side_store(n, i, side_byte(new));
    __atomic_store_n(&n->va[i], raw, __ATOMIC_RELEASE);
    side_write_end(p);
    if (p->fmt->needs_bbm && old->kind != VC_PTE_EMPTY && new->kind == VC_PTE_EMPTY) {
        /* Invalidate now, as KVM does on stage 2: a later "make" over this
         * range (possibly under the same pending vc_flush) must not meet a
         * stale translation of a different size or output. */
        p->config.bbm_flush(p->config.bbm_arg, vc_gfn(gfn), lorder(p, n->level));
    }
    if (n->level > 0 && new->kind != VC_PTE_TABLE)
        __atomic_store_n(&n->child[i], NULL, __ATOMIC_RELEASE);
    if (old->kind == VC_PTE_EMPTY && new->kind != VC_PTE_EMPTY)
        n->used++;
    else if (old->kind != VC_PTE_EMPTY && new->kind == VC_PTE_EMPTY)
        n->used--;
}

/* ---- node allocation --------------------------------------------------------- */

static void node_release_now(struct node *n)
{
    const struct vc_host host = n->host, *h = &host;

    if (n->child)
        vc_host_free(h, n->child, n->nr * sizeof(*n->child));
    if (n->side)
        vc_host_free(h, n->side, n->nr);
    if (n->va)
        h->ops->pt_free(h->cookie, n->va, n->pa, n->size);
    vc_host_free(h, n, sizeof(*n));
}

static void node_release_deferred(struct vc_deferred_free *d)
{
    node_release_now(vc_container_of(d, struct node, dfree));
}

static struct node *node_alloc(struct vc_p2m *p, unsigned int level, unsigned int nr,
                               size_t size)
{
    const struct vc_host *h = &p->host;
    struct node *n = vc_host_alloc(h, sizeof(*n));

    if (!n)
        return NULL;
    n->host = p->host;
    n->p2m = p;
    n->level = level;
    n->nr = nr;
    n->size = size;
    n->dfree.release = node_release_deferred;
    n->va = h->ops->pt_alloc(h->cookie, size, size, &n->pa);
    if (!n->va)
        goto fail;
    if (level > 0) {
        n->child = vc_host_alloc(h, nr * sizeof(*n->child));
        if (!n->child)
            goto fail;
    }
    if (p->side) {
        n->side = vc_host_alloc(h, nr);
        if (!n->side)
            goto fail;
    }
    return n;
fail:
    node_release_now(n);
    return NULL;
}

static size_t table_bytes(const struct vc_p2m *p)
{
    return (size_t)1 << p->cfg.granule_shift;
}

static unsigned int table_entries(const struct vc_p2m *p)
{
    return 1u << p->cfg.bits_per_level;
}

/* Hand a whole subtree to the flush for release after invalidation. */
static void defer_subtree(struct vc_p2m *p, struct node *n, struct vc_flush *f)
{
    if (n->level > 0)
        for (unsigned int i = 0; i < n->nr; i++)
            if (n->child[i])
                defer_subtree(p, n->child[i], f);
    p->nr_tables--;
    vc_flush_defer_free(f, &n->dfree);
}

/* Free a subtree immediately (destroy). */
static void free_subtree(struct node *n)
{
    if (n->level > 0)
        for (unsigned int i = 0; i < n->nr; i++)
            if (n->child[i])
                free_subtree(n->child[i]);
    node_release_now(n);
}

/* ---- the operation walk --------------------------------------------------------- */

enum op_kind { OP_MAP, OP_UNMAP, OP_TYPE, OP_ACCESS, OP_SVE };

struct op {
    enum op_kind kind;
    uint64_t start, end;      /* frames [start, end) */
    uint64_t mfn;             /* OP_MAP: machine frame of @start */
    unsigned int type, from;  /* OP_MAP / OP_TYPE: new type; OP_TYPE: old type */
    unsigned int access;      /* OP_MAP / OP_ACCESS */
    bool sve;                 /* OP_SVE */
    unsigned int leaf_max;    /* OP_MAP: highest level for new leaves */
    bool apply;               /* false: COUNT pass */
    unsigned int need[MAX_LEVELS];  /* COUNT: tables needed per level */
    struct node *pool[MAX_LEVELS];  /* APPLY: preallocated tables per level */
    struct vc_flush *flush;
    /* Pending flush run, folded into @flush when a gap appears. */
    uint64_t fl_start, fl_end;
    enum vc_flush_kind fl_kind;
};

/* The table an op walks: a real node, or (COUNT pass) a virtual one whose
 * entries all derive from @tmpl, the entry it would replace. */
struct tref {
    struct node *node;
    unsigned int level;
    struct vc_pte tmpl; /* virtual: EMPTY or the leaf being split */
};

static void note_flush(struct op *op, enum vc_flush_kind kind, uint64_t gfn, uint64_t nr)
{
    if (op->fl_kind != VC_FLUSH_NONE && gfn == op->fl_end) {
        op->fl_end += nr;
        if (kind > op->fl_kind)
            op->fl_kind = kind;
        return;
    }
    if (op->fl_kind != VC_FLUSH_NONE)
        vc_flush_add(op->flush, op->fl_kind, op->fl_start, op->fl_end - op->fl_start);
    op->fl_kind = kind;
    op->fl_start = gfn;
    op->fl_end = gfn + nr;
}

static void observe(struct vc_p2m *p, uint64_t gfn, uint64_t nr, bool was_mapped,
                    const struct vc_pte *new)
{
    struct vc_p2m_change c;

    if (!p->obs)
        return;
    c.gfn = vc_gfn(gfn);
    c.nr = nr;
    c.was_mapped = was_mapped;
    if (new->kind == VC_PTE_LEAF) {
        c.mfn = vc_mfn(new->addr >> VC_FRAME_SHIFT);
        c.type = (enum vc_p2m_type)new->type;
        c.access = (enum vc_p2m_access)new->access;
        c.sve = new->sve;
    } else {
        c.mfn = VC_INVALID_MFN;
        c.type = VC_P2M_INVALID;
        c.access = VC_ACCESS_N;
        c.sve = false;
    }
    p->obs(p->obs_arg, &c);
}

/* Entry @i of a table reference. */
static int tref_ent(const struct vc_p2m *p, const struct tref *t, unsigned int i,
                    struct ent *e)
{
    if (t->node)
        return read_ent(p, t->node, i, e);
    e->child = NULL;
    e->pte = t->tmpl;
    if (t->tmpl.kind == VC_PTE_LEAF)
        e->pte.addr += ((uint64_t)i << lorder(p, t->level)) << VC_FRAME_SHIFT;
    return 0;
}

/* Make a real table for a new level-@level table under an entry @parent
 * (EMPTY, or a leaf being split): take it from the pool and fill it. */
static struct node *make_table(struct vc_p2m *p, struct op *op, unsigned int level,
                               const struct vc_pte *parent)
{
    struct node *n = op->pool[level];

    op->pool[level] = n->next;
    n->next = NULL;
    p->nr_tables++;
    if (parent->kind == VC_PTE_LEAF) {
        struct vc_pte leaf = *parent;
        uint64_t step = (uint64_t)1 << (lorder(p, level) + VC_FRAME_SHIFT);
        struct vc_pte empty = {.kind = VC_PTE_EMPTY};

        /* Not yet reachable: plain stores are fine, write_ent keeps the
         * bookkeeping consistent. */
        for (unsigned int i = 0; i < n->nr; i++) {
            leaf.addr = parent->addr + i * step;
            write_ent(p, n, i, 0, &empty, &leaf, NULL);
        }
    }
    return n;
}

/* Whether table @n (entries at n->level) can become one leaf at n->level + 1. */
static bool mergeable(const struct vc_p2m *p, const struct node *n)
{
    struct ent first, e;
    uint64_t step;

    if (n->used != n->nr || (p->config.flags & VC_P2M_F_NO_MERGE) ||
        !leaf_allowed(p, n->level + 1) || n == p->root)
        return false;
    if (read_ent(p, n, 0, &first) || first.pte.kind != VC_PTE_LEAF)
        return false;
    /* The block must be aligned for the bigger leaf. */
    if (first.pte.addr & ((((uint64_t)1 << lorder(p, n->level + 1)) << VC_FRAME_SHIFT) - 1))
        return false;
    step = ((uint64_t)1 << lorder(p, n->level)) << VC_FRAME_SHIFT;
    for (unsigned int i = 1; i < n->nr; i++) {
        if (read_ent(p, n, i, &e) || e.pte.kind != VC_PTE_LEAF ||
            e.pte.addr != first.pte.addr + i * step || e.pte.type != first.pte.type ||
            e.pte.access != first.pte.access || e.pte.sve != first.pte.sve)
            return false;
    }
    return true;
}

static int op_table(struct vc_p2m *p, struct op *op, const struct tref *t, uint64_t base);

/*
 * After APPLY changed the subtree under entry @i of @n (a table entry whose
 * child is @child): free the child if it became empty, or merge it into a
 * superpage if it became uniform.
 */
static void tidy_child(struct vc_p2m *p, struct op *op, struct node *n, unsigned int i,
                       uint64_t gfn, const struct ent *cur)
{
    struct node *child = cur->child;
    uint64_t span = (uint64_t)1 << lorder(p, n->level);

    if (child->used == 0) {
        struct vc_pte empty = {.kind = VC_PTE_EMPTY};
        write_ent(p, n, i, gfn, &cur->pte, &empty, NULL);
        defer_subtree(p, child, op->flush);
        note_flush(op, VC_FLUSH_STRUCTURAL, gfn, span);
    } else if (mergeable(p, child)) {
        struct ent first;
        struct vc_pte leaf;

        read_ent(p, child, 0, &first);
        leaf = first.pte;
        write_ent(p, n, i, gfn, &cur->pte, &leaf, NULL);
        defer_subtree(p, child, op->flush);
        note_flush(op, VC_FLUSH_STRUCTURAL, gfn, span);
    }
}

/* Descend into entry @i (covering [gfn, gfn + span)) through a new or
 * existing table. */
static int descend(struct vc_p2m *p, struct op *op, const struct tref *t, unsigned int i,
                   uint64_t gfn, const struct ent *cur)
{
    struct tref sub = {.level = t->level - 1};
    struct node *n = t->node;
    uint64_t span = (uint64_t)1 << lorder(p, t->level);
    int rc;

    if (cur->pte.kind == VC_PTE_TABLE) {
        sub.node = cur->child;
        rc = op_table(p, op, &sub, gfn);
        if (rc == 0 && op->apply)
            tidy_child(p, op, n, i, gfn, cur);
        return rc;
    }
    /* A new table: empty, or a split superpage. */
    if (!op->apply) {
        op->need[sub.level]++;
        sub.node = NULL;
        sub.tmpl = cur->pte; /* child i of a split leaf maps addr + i * size */
        return op_table(p, op, &sub, gfn);
    } else {
        struct vc_pte tbl = {.kind = VC_PTE_TABLE};
        struct ent now;

        sub.node = make_table(p, op, sub.level, &cur->pte);
        tbl.addr = vc_paddr_x(sub.node->pa);
        write_ent(p, n, i, gfn, &cur->pte, &tbl, sub.node);
        if (cur->pte.kind == VC_PTE_LEAF)
            note_flush(op, VC_FLUSH_STRUCTURAL, gfn, span); /* split */
        rc = op_table(p, op, &sub, gfn);
        now.pte = tbl;
        now.child = sub.node;
        if (rc == 0)
            tidy_child(p, op, n, i, gfn, &now);
        return rc;
    }
}

/* Apply a leaf-level change to entry @i: write @new over @cur. */
static void set_leaf(struct vc_p2m *p, struct op *op, struct node *n, unsigned int i,
                     uint64_t gfn, const struct ent *cur, const struct vc_pte *new)
{
    uint64_t span = (uint64_t)1 << lorder(p, n->level);
    enum vc_flush_kind kind = cur->pte.kind == VC_PTE_EMPTY ? VC_FLUSH_ADDED
                                                            : VC_FLUSH_MODIFIED;

    write_ent(p, n, i, gfn, &cur->pte, new, NULL);
    if (cur->pte.kind == VC_PTE_TABLE) {
        defer_subtree(p, cur->child, op->flush);
        kind = VC_FLUSH_STRUCTURAL;
    }
    note_flush(op, kind, gfn, span);
    observe(p, gfn, span, cur->pte.kind != VC_PTE_EMPTY, new);
}

/*
 * The leaf a type/access/sve operation makes of leaf @cur; false if the
 * operation leaves it alone (a type change of another type).
 */
static bool attr_leaf(const struct op *op, const struct vc_pte *cur, struct vc_pte *new)
{
    unsigned int type = cur->type, access = cur->access;
    bool sve = cur->sve;

    if (op->kind == OP_TYPE) {
        if (type != op->from)
            return false;
        type = op->type;
    } else if (op->kind == OP_ACCESS) {
        access = op->access;
    } else {
        sve = op->sve;
    }
    make_leaf(new, cur->addr, type, access, sve);
    return true;
}

/*
 * COUNT shortcut: a wholly covered entry that is not a table never needs a
 * new table for unmap/type/access/sve changes (it is rewritten or left
 * alone), so it need not be decoded in the COUNT pass. (An entry corrupted
 * behind the engine's back is then found by APPLY, which stops there with
 * VC_ECORRUPT; audit reports such damage.)
 */
static bool count_skip(const struct vc_p2m *p, const struct op *op, const struct tref *t,
                       unsigned int i, bool full)
{
    uint64_t raw;

    if (op->apply || !full || op->kind == OP_MAP || !p->fmt->walk_table_mask)
        return false;
    if (!t->node)
        return true; /* a virtual table holds only leaves or nothing */
    raw = load_raw(t->node, i);
    return t->level == 0 || (raw & p->fmt->walk_table_mask) != p->fmt->walk_table_value;
}

static int op_entry(struct vc_p2m *p, struct op *op, const struct tref *t, unsigned int i,
                    uint64_t gfn)
{
    uint64_t span = (uint64_t)1 << lorder(p, t->level);
    bool full = gfn >= op->start && gfn + span <= op->end;
    struct ent cur;
    struct vc_pte new;
    int rc;

    if (count_skip(p, op, t, i, full))
        return 0;
    rc = tref_ent(p, t, i, &cur);
    if (rc)
        return rc;
    switch (op->kind) {
    case OP_MAP: {
        uint64_t mfn = op->mfn + (gfn - op->start);

        if (full && t->level <= op->leaf_max && leaf_allowed(p, t->level) &&
            vc_order_aligned(mfn, lorder(p, t->level))) {
            make_leaf(&new, mfn << VC_FRAME_SHIFT, op->type, op->access, true);
            if (same_leaf(&cur.pte, &new))
                return 0;
            if (op->apply)
                set_leaf(p, op, t->node, i, gfn, &cur, &new);
            return 0;
        }
        if (cur.pte.kind == VC_PTE_LEAF && cur.pte.type == op->type &&
            cur.pte.access == op->access && cur.pte.sve &&
            (cur.pte.addr >> VC_FRAME_SHIFT) == op->mfn + gfn - op->start) {
            /* A superpage that already maps the covered part as asked
             * (same frame offset, type and access) needs no split. */
            return 0;
        }
        return descend(p, op, t, i, gfn, &cur);
    }
    case OP_UNMAP:
        if (cur.pte.kind == VC_PTE_EMPTY)
            return 0;
        if (full) {
            new.kind = VC_PTE_EMPTY;
            if (op->apply)
                set_leaf(p, op, t->node, i, gfn, &cur, &new);
            return 0;
        }
        return descend(p, op, t, i, gfn, &cur);
    case OP_TYPE:
    case OP_ACCESS:
    case OP_SVE:
        if (cur.pte.kind == VC_PTE_EMPTY)
            return 0;
        if (cur.pte.kind == VC_PTE_LEAF) {
            if (!attr_leaf(op, &cur.pte, &new) || same_leaf(&cur.pte, &new))
                return 0;
            if (full) {
                if (op->apply)
                    set_leaf(p, op, t->node, i, gfn, &cur, &new);
                return 0;
            }
        }
        return descend(p, op, t, i, gfn, &cur);
    }
    return VC_EINVAL;
}

/* Entries from @i to @last that lie wholly inside the operation's range
 * (the first one starts at or after op->start). */
static uint64_t run_limit(const struct op *op, uint64_t i, uint64_t last, uint64_t gfn,
                          unsigned int shift)
{
    uint64_t kmax = last - i + 1, room = (op->end - gfn) >> shift;

    return room < kmax ? room : kmax;
}

/* Write @k leaves from entry @i: the first is @leaf, each next one a leaf
 * further (formats with a fast-walk descriptor keep addresses linear). */
static void write_run(struct vc_p2m *p, struct node *n, uint64_t i, uint64_t k,
                      const struct vc_pte *leaf)
{
    uint64_t raw = p->fmt->encode(&p->cfg, n->level, leaf);
    uint64_t step = ((uint64_t)1 << lorder(p, n->level)) << VC_FRAME_SHIFT;
    uint8_t side = side_byte(leaf);

    side_write_begin(p);
    for (uint64_t j = 0; j < k; j++) {
        if (p->side)
            side_store(n, (unsigned int)(i + j), side);
        __atomic_store_n(&n->va[i + j], raw + j * step, __ATOMIC_RELEASE);
    }
    side_write_end(p);
}

/*
 * Bulk map: the run of entries from @i that are empty and will each get a
 * leaf at this level. Such entries never need a table, so COUNT skips them
 * after a zero test; APPLY encodes the first leaf once and steps the address
 * (formats with a fast-walk descriptor promise the address is linear in the
 * entry). Returns the number of entries handled (0: none, use op_entry).
 */
static uint64_t map_run(struct vc_p2m *p, struct op *op, const struct tref *t, uint64_t i,
                        uint64_t last, uint64_t gfn)
{
    unsigned int shift = lorder(p, t->level);
    uint64_t span = (uint64_t)1 << shift, mfn = op->mfn + (gfn - op->start), k = 0, kmax;
    struct node *n = t->node;

    if (gfn < op->start)
        return 0; /* the first entry is only partly covered */
    if (!p->fmt->walk_addr_mask || t->level > op->leaf_max || !leaf_allowed(p, t->level) ||
        !vc_order_aligned(mfn, shift))
        return 0;
    kmax = run_limit(op, i, last, gfn, shift);
    if (!n) {
        k = t->tmpl.kind == VC_PTE_EMPTY ? kmax : 0; /* a virtual table */
    } else {
        /* We hold the lock; hardware only ever sets bits in valid entries,
         * so a zero entry stays zero under us. */
        const uint64_t *v = n->va + i;
        while (k < kmax && __atomic_load_n(&v[k], __ATOMIC_RELAXED) == 0)
            k++;
    }
    if (k == 0 || !op->apply)
        return k;
    {
        struct vc_pte leaf;

        make_leaf(&leaf, mfn << VC_FRAME_SHIFT, op->type, op->access, true);
        write_run(p, n, i, k, &leaf);
        n->used += (unsigned int)k;
        note_flush(op, VC_FLUSH_ADDED, gfn, k * span);
        observe(p, gfn, k * span, false, &leaf);
    }
    return k;
}

/*
 * Bulk attribute change (APPLY, type/access/sve): from entry @i, a run of
 * wholly covered leaves whose raw values step by exactly one leaf (same
 * attributes, contiguous frames: ordinary RAM) is rewritten from one
 * decode and one encode. Returns the entries handled (0: use op_entry).
 */
static uint64_t attr_run(struct vc_p2m *p, struct op *op, const struct tref *t, uint64_t i,
                         uint64_t last, uint64_t gfn)
{
    unsigned int shift = lorder(p, t->level);
    uint64_t step = ((uint64_t)1 << shift) << VC_FRAME_SHIFT, kmax, raw0, k;
    struct node *n = t->node;
    struct ent cur;
    struct vc_pte new;

    if (!op->apply || !p->fmt->walk_addr_mask || gfn < op->start)
        return 0;
    kmax = run_limit(op, i, last, gfn, shift);
    if (kmax < 2 || read_ent(p, n, (unsigned int)i, &cur) || cur.pte.kind != VC_PTE_LEAF ||
        !attr_leaf(op, &cur.pte, &new) || same_leaf(&cur.pte, &new) ||
        needs_bbm(p, &cur.pte, &new))
        return 0;
    raw0 = load_raw(n, (unsigned int)i);
    for (k = 1; k < kmax; k++)
        if (load_raw(n, (unsigned int)(i + k)) != raw0 + k * step ||
            (p->side && n->side[i + k] != n->side[i]))
            break;
    if (k < 2)
        return 0;
    write_run(p, n, i, k, &new);
    note_flush(op, VC_FLUSH_MODIFIED, gfn, k << shift);
    observe(p, gfn, k << shift, true, &new);
    return k;
}

static int op_table(struct vc_p2m *p, struct op *op, const struct tref *t, uint64_t base)
{
    unsigned int shift = lorder(p, t->level);
    unsigned int nr = t->node ? t->node->nr : table_entries(p);
    uint64_t first = op->start > base ? (op->start - base) >> shift : 0;
    uint64_t last = (op->end - 1 - base) >> shift; /* op->end > base here */

    if (last >= nr)
        last = nr - 1;
    for (uint64_t i = first; i <= last; i++) {
        uint64_t gfn = base + (i << shift);
        int rc;

        if (op->kind == OP_MAP || (op->apply && op->kind != OP_UNMAP)) {
            uint64_t k = op->kind == OP_MAP ? map_run(p, op, t, i, last, gfn)
                                            : attr_run(p, op, t, i, last, gfn);
            if (k) {
                i += k - 1;
                continue;
            }
        }
        rc = op_entry(p, op, t, (unsigned int)i, gfn);
        if (rc)
            return rc;
    }
    return 0;
}

static void pool_free(struct op *op)
{
    for (unsigned int l = 0; l < MAX_LEVELS; l++) {
        while (op->pool[l]) {
            struct node *n = op->pool[l];
            op->pool[l] = n->next;
            node_release_now(n);
        }
    }
}

/* COUNT, allocate, APPLY. Called with the lock held and arguments checked. */
static int run_op(struct vc_p2m *p, struct op *op, struct vc_flush *flush)
{
    struct tref root = {.node = p->root, .level = p->root->level};
    int rc;

    op->apply = false;
    rc = op_table(p, op, &root, 0);
    if (rc)
        return rc;
    for (unsigned int l = 0; l < MAX_LEVELS; l++) {
        for (unsigned int k = 0; k < op->need[l]; k++) {
            struct node *n = node_alloc(p, l, table_entries(p), table_bytes(p));
            if (!n) {
                pool_free(op);
                return VC_ENOMEM;
            }
            n->next = op->pool[l];
            op->pool[l] = n;
        }
    }
    op->apply = true;
    op->flush = flush;
    rc = op_table(p, op, &root, 0);
    if (op->fl_kind != VC_FLUSH_NONE)
        vc_flush_add(flush, op->fl_kind, op->fl_start, op->fl_end - op->fl_start);
    /* The count is exact; anything left would be a bug, but never leak. */
    pool_free(op);
    return rc;
}

/* ---- argument checks ------------------------------------------------------------- */

static bool valid_type(unsigned int t)
{
    return t > VC_P2M_INVALID && t < VC_P2M_NR_TYPES;
}

static bool valid_access(unsigned int a)
{
    return a < VC_ACCESS_NR;
}

/* Check a gfn range (and its granule alignment). */
static int check_gfns(const struct vc_p2m *p, uint64_t gfn, uint64_t nr)
{
    if (nr == 0)
        return VC_EINVAL;
    if (gfn + nr < gfn)
        return VC_EOVERFLOW;
    if (!vc_range_ok(gfn, nr, p->ia_frames))
        return VC_ERANGE;
    if (!vc_order_aligned(gfn, p->order0) || !vc_order_aligned(nr, p->order0))
        return VC_EALIGN;
    return 0;
}

static int check_mfns(const struct vc_p2m *p, uint64_t mfn, uint64_t nr)
{
    if (mfn + nr < mfn)
        return VC_EOVERFLOW;
    if (!vc_range_ok(mfn, nr, p->oa_frames))
        return VC_ERANGE;
    if (!vc_order_aligned(mfn, p->order0))
        return VC_EALIGN;
    return 0;
}

static int locked_op(struct vc_p2m *p, struct op *op, struct vc_flush *flush)
{
    int rc;

    if (!flush)
        return VC_EINVAL;
    vc_lock_acquire(&p->host, &p->lock);
    rc = run_op(p, op, flush);
    vc_lock_release(&p->host, &p->lock);
    return rc;
}

/* ---- public operations ------------------------------------------------------------ */

/* Check [gfn, gfn + nr), then run @op over it under the lock. */
static int range_op(struct vc_p2m *p, struct op *op, vc_gfn_t gfn, uint64_t nr,
                    struct vc_flush *flush)
{
    int rc = check_gfns(p, vc_gfn_x(gfn), nr);

    if (rc)
        return rc;
    op->start = vc_gfn_x(gfn);
    op->end = op->start + nr;
    return locked_op(p, op, flush);
}

int vc_p2m_map(struct vc_p2m *p, vc_gfn_t gfn, vc_mfn_t mfn, uint64_t nr,
               enum vc_p2m_type type, enum vc_p2m_access access, struct vc_flush *flush)
{
    struct op op = {.kind = OP_MAP};
    int rc;

    if (!p || !valid_type(type) || !valid_access(access))
        return VC_EINVAL;
    rc = check_gfns(p, vc_gfn_x(gfn), nr);
    if (!rc)
        rc = check_mfns(p, vc_mfn_x(mfn), nr);
    if (rc)
        return rc;
    op.start = vc_gfn_x(gfn);
    op.end = op.start + nr;
    op.mfn = vc_mfn_x(mfn);
    op.type = type;
    op.access = access;
    op.leaf_max = p->max_leaf;
    return locked_op(p, &op, flush);
}

int vc_p2m_set_entry(struct vc_p2m *p, vc_gfn_t gfn, vc_mfn_t mfn, unsigned int order,
                     enum vc_p2m_type type, enum vc_p2m_access access,
                     struct vc_flush *flush)
{
    struct op op = {.kind = OP_MAP};
    uint64_t nr;
    int rc;

    if (!p || order > 63 || !valid_access(access) ||
        (type != VC_P2M_INVALID && !valid_type(type)))
        return VC_EINVAL;
    nr = (uint64_t)1 << order;
    rc = check_gfns(p, vc_gfn_x(gfn), nr);
    if (rc)
        return rc;
    if (!vc_order_aligned(vc_gfn_x(gfn), order))
        return VC_EALIGN;
    if (type == VC_P2M_INVALID)
        return vc_p2m_unmap(p, gfn, nr, flush);
    rc = check_mfns(p, vc_mfn_x(mfn), nr);
    if (rc)
        return rc;
    if (!vc_order_aligned(vc_mfn_x(mfn), order))
        return VC_EALIGN;
    op.start = vc_gfn_x(gfn);
    op.end = op.start + nr;
    op.mfn = vc_mfn_x(mfn);
    op.type = type;
    op.access = access;
    /* Exactly one entry: no leaf larger than the order. */
    op.leaf_max = 0;
    for (unsigned int l = 0; l <= p->max_leaf; l++)
        if (lorder(p, l) <= order)
            op.leaf_max = l;
    return locked_op(p, &op, flush);
}

int vc_p2m_unmap(struct vc_p2m *p, vc_gfn_t gfn, uint64_t nr, struct vc_flush *flush)
{
    struct op op = {.kind = OP_UNMAP};

    if (!p)
        return VC_EINVAL;
    return range_op(p, &op, gfn, nr, flush);
}

int vc_p2m_change_type(struct vc_p2m *p, vc_gfn_t gfn, uint64_t nr, enum vc_p2m_type from,
                       enum vc_p2m_type to, struct vc_flush *flush)
{
    struct op op = {.kind = OP_TYPE};

    if (!p || !valid_type(from) || !valid_type(to))
        return VC_EINVAL;
    op.from = from;
    op.type = to;
    return range_op(p, &op, gfn, nr, flush);
}

int vc_p2m_set_access(struct vc_p2m *p, vc_gfn_t gfn, uint64_t nr, enum vc_p2m_access access,
                      struct vc_flush *flush)
{
    struct op op = {.kind = OP_ACCESS};

    if (!p || !valid_access(access))
        return VC_EINVAL;
    op.access = access;
    return range_op(p, &op, gfn, nr, flush);
}

int vc_p2m_set_suppress_ve(struct vc_p2m *p, vc_gfn_t gfn, uint64_t nr, bool sve,
                           struct vc_flush *flush)
{
    struct op op = {.kind = OP_SVE};

    if (!p)
        return VC_EINVAL;
    op.sve = sve;
    return range_op(p, &op, gfn, nr, flush);
}

/* ---- lookup ------------------------------------------------------------------------- */

static inline void fill_entry(const struct vc_p2m *p, const struct vc_pte *pte, unsigned int level,
                       uint64_t gfn, struct vc_p2m_entry *out)
{
    unsigned int order = lorder(p, level);

    out->order = order;
    if (pte->kind != VC_PTE_LEAF) {
        out->mfn = VC_INVALID_MFN;
        out->type = VC_P2M_INVALID;
        out->access = VC_ACCESS_N;
        out->rights = 0;
        out->hw_perms = 0;
        out->mt = VC_MT_WB;
        out->sve = false;
        return;
    }
    out->mfn = vc_mfn((pte->addr >> VC_FRAME_SHIFT) + (gfn & (((uint64_t)1 << order) - 1)));
    out->type = (enum vc_p2m_type)pte->type;
    out->access = (enum vc_p2m_access)pte->access;
    out->rights = vc_p2m_rights(out->type, out->access);
    out->hw_perms = pte->perms;
    out->mt = pte->mt;
    out->sve = pte->sve;
}

/*
 * Lookup through the host's direct map: one load per level, as hardware
 * walks. Only for formats that keep every field in the entry and describe
 * their table entries (fast-walk descriptor).
 */
static inline int lookup_direct(struct vc_p2m *p, uint64_t gfn, struct vc_p2m_entry *out)
{
    const struct vc_p2m_format *f = p->fmt;
    const uint64_t *t = p->root->va;
    unsigned int level = p->root->level, nr = p->root->nr;
    struct vc_pte pte;

    for (;;) {
        uint64_t raw = __atomic_load_n(&t[(gfn >> lorder(p, level)) & (nr - 1)],
                                       __ATOMIC_ACQUIRE);
        if (level > 0 && (raw & f->walk_table_mask) == f->walk_table_value) {
            t = (const uint64_t *)(intptr_t)((intptr_t)(raw & f->walk_addr_mask) + p->dmap_off);
            level--;
            nr = table_entries(p);
            continue;
        }
        if (f->decode(&p->cfg, level, raw, &pte) || pte.kind == VC_PTE_TABLE)
            return VC_ECORRUPT;
        fill_entry(p, &pte, level, gfn, out);
        return 0;
    }
}

static int lookup(struct vc_p2m *p, uint64_t gfn, struct vc_p2m_entry *out)
{
    const struct vc_p2m_format *f = p->fmt;
    const struct node *n = p->root;

    for (;;) {
        unsigned int i = (unsigned int)((gfn >> lorder(p, n->level)) & (n->nr - 1));
        struct ent e;
        int rc;

        if (n->level > 0 && f->walk_table_mask) {
            /* Fast path: descend without decode(), as hardware does. */
            uint64_t raw = load_raw(n, i);
            if ((raw & f->walk_table_mask) == f->walk_table_value) {
                const struct node *c = __atomic_load_n(&n->child[i], __ATOMIC_ACQUIRE);
                if (!c || vc_paddr_x(c->pa) != (raw & f->walk_addr_mask))
                    return VC_ECORRUPT;
                n = c;
                continue;
            }
        }
        rc = read_ent(p, n, i, &e);
        if (rc)
            return rc;
        if (e.pte.kind != VC_PTE_TABLE) {
            fill_entry(p, &e.pte, n->level, gfn, out);
            return 0;
        }
        n = e.child;
    }
}

/*
 * A lookup that is consistent on side formats without the lock: retry while
 * a writer was between the two stores of a leaf (see side_write_begin).
 */
static int lookup_consistent(struct vc_p2m *p, uint64_t gfn, struct vc_p2m_entry *out)
{
    uint64_t s1, s2;
    int rc;

    if (!p->side)
        return lookup(p, gfn, out);
    /* Bounded: a writer's window is two stores, but a caller interrupting
     * the writer on its own CPU must not spin forever. */
    for (unsigned long spins = 0; spins < (1ul << 20); spins++) {
        s1 = __atomic_load_n(&p->side_seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            vc_cpu_relax();
            continue;
        }
        rc = lookup(p, gfn, out);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&p->side_seq, __ATOMIC_RELAXED);
        if (s1 == s2)
            return rc;
    }
    return VC_EAGAIN;
}

int vc_p2m_lookup(struct vc_p2m *p, vc_gfn_t gfn, struct vc_p2m_entry *out)
{
    int rc;

    if (!p || !out)
        return VC_EINVAL;
    if (vc_gfn_x(gfn) >= p->ia_frames)
        return VC_ERANGE;
    vc_lock_acquire(&p->host, &p->lock);
    rc = lookup(p, vc_gfn_x(gfn), out);
    vc_lock_release(&p->host, &p->lock);
    return rc;
}

int vc_p2m_lookup_unlocked(struct vc_p2m *p, vc_gfn_t gfn, struct vc_p2m_entry *out)
{
    int rc = VC_ECORRUPT;

    if (!p || !out)
        return VC_EINVAL;
    if (vc_gfn_x(gfn) >= p->ia_frames)
        return VC_ERANGE;
    if (p->dmap) /* one load per level, no bookkeeping to race with */
        return lookup_direct(p, vc_gfn_x(gfn), out);
    /* A concurrent writer may swap a table between our reading the entry
     * and its child pointer; read_ent() then sees a mismatch. Retry: the
     * writer finishes each entry in a bounded number of stores. */
    for (int tries = 0; tries < 64; tries++) {
        rc = lookup_consistent(p, vc_gfn_x(gfn), out);
        if (rc != VC_ECORRUPT)
            return rc;
    }
    return rc == VC_ECORRUPT ? VC_EAGAIN : rc;
}

/* ---- walker --------------------------------------------------------------------------- */

static int walk_table(struct vc_p2m *p, const struct node *n, uint64_t base, uint64_t start,
                      uint64_t end, const struct vc_p2m_walker *w)
{
    unsigned int shift = lorder(p, n->level);
    uint64_t first = start > base ? (start - base) >> shift : 0;
    uint64_t last = (end - 1 - base) >> shift;

    if (last >= n->nr)
        last = n->nr - 1;
    for (uint64_t i = first; i <= last; i++) {
        struct vc_p2m_visit v;
        struct ent e;
        uint64_t gfn = base + (i << shift);
        int rc = read_ent(p, n, (unsigned int)i, &e);

        if (rc)
            return rc;
        vc_memset(&v, 0, sizeof(v));
        v.gfn = vc_gfn(gfn);
        v.level = n->level;
        v.order = shift;
        v.raw = load_raw(n, (unsigned int)i);
        v.pte = e.pte;
        fill_entry(p, &e.pte, n->level, gfn, &v.entry);
        switch (e.pte.kind) {
        case VC_PTE_EMPTY:
            v.kind = VC_VISIT_EMPTY;
            break;
        case VC_PTE_LEAF:
            v.kind = VC_VISIT_LEAF;
            break;
        case VC_PTE_TABLE:
            if (w->flags & VC_VISIT_TABLE_PRE) {
                v.kind = VC_VISIT_TABLE_PRE;
                rc = w->cb(&v, w->arg);
                if (rc)
                    return rc;
            }
            rc = walk_table(p, e.child, gfn, start, end, w);
            if (rc)
                return rc;
            v.kind = VC_VISIT_TABLE_POST;
            break;
        }
        if (w->flags & v.kind) {
            rc = w->cb(&v, w->arg);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int vc_p2m_walk(struct vc_p2m *p, vc_gfn_t gfn, uint64_t nr, const struct vc_p2m_walker *w)
{
    int rc;

    if (!p || !w || !w->cb ||
        (w->flags & ~(unsigned int)(VC_VISIT_LEAF | VC_VISIT_TABLE_PRE | VC_VISIT_TABLE_POST |
                                    VC_VISIT_EMPTY)))
        return VC_EINVAL;
    if (nr == 0)
        return VC_EINVAL;
    if (vc_gfn_x(gfn) + nr < vc_gfn_x(gfn))
        return VC_EOVERFLOW;
    if (!vc_range_ok(vc_gfn_x(gfn), nr, p->ia_frames))
        return VC_ERANGE;
    vc_lock_acquire(&p->host, &p->lock);
    rc = walk_table(p, p->root, 0, vc_gfn_x(gfn), vc_gfn_x(gfn) + nr, w);
    vc_lock_release(&p->host, &p->lock);
    return rc;
}

/* ---- audit ------------------------------------------------------------------------------- */

struct audit {
    const char *msg;
    uint64_t tables;
};

static int audit_fail(struct audit *a, const char *msg)
{
    if (!a->msg)
        a->msg = msg;
    return VC_ECORRUPT;
}

static int audit_table(struct vc_p2m *p, struct node *n, unsigned int level, struct audit *a)
{
    unsigned int used = 0;
    uint64_t span_bytes = ((uint64_t)1 << lorder(p, level)) << VC_FRAME_SHIFT;

    if (n->audit_gen == p->audit_gen)
        return audit_fail(a, "a table is referenced twice");
    n->audit_gen = p->audit_gen;
    a->tables++;
    if (n->level != level)
        return audit_fail(a, "a table's level does not match its position");
    if (n->p2m != p)
        return audit_fail(a, "a table belongs to another p2m");
    if (p->host.ops->phys_to_virt(p->host.cookie, n->pa) != (void *)n->va)
        return audit_fail(a, "a table's physical address does not map back to it");
    if (p->dmap && (void *)(intptr_t)((intptr_t)vc_paddr_x(n->pa) + p->dmap_off) != (void *)n->va)
        return audit_fail(a, "a table is not where the host's direct map says");
    if (n->nr != (n == p->root ? p->cfg.root_entries : table_entries(p)) ||
        n->size != (n == p->root ? p->cfg.root_size : table_bytes(p)))
        return audit_fail(a, "a table has the wrong size");
    for (unsigned int i = 0; i < n->nr; i++) {
        struct ent e;
        uint64_t raw = load_raw(n, i);

        if (p->fmt->decode(&p->cfg, level, raw, &e.pte))
            return audit_fail(a, "an entry does not decode");
        if (e.pte.kind != VC_PTE_TABLE && level > 0 && n->child[i])
            return audit_fail(a, "a child pointer under a non-table entry");
        if (e.pte.kind != VC_PTE_LEAF && p->side && n->side[i])
            return audit_fail(a, "side bits under a non-leaf entry");
        if (p->side && (n->side[i] & ~(SIDE_ACCESS | SIDE_SVE)))
            return audit_fail(a, "reserved side bits set");
        if (level > 0 && p->fmt->walk_table_mask &&
            ((raw & p->fmt->walk_table_mask) == p->fmt->walk_table_value) !=
                (e.pte.kind == VC_PTE_TABLE))
            return audit_fail(a, "the fast-walk descriptor disagrees with decode");
        if (e.pte.kind == VC_PTE_EMPTY) {
            if (raw != 0)
                return audit_fail(a, "an empty entry is not zero");
            continue;
        }
        used++;
        if (e.pte.kind == VC_PTE_TABLE) {
            int rc;
            if (level == 0)
                return audit_fail(a, "a table entry at level 0");
            if (!n->child[i] || vc_paddr_x(n->child[i]->pa) != e.pte.addr)
                return audit_fail(a, "a table entry does not match its child");
            rc = audit_table(p, n->child[i], level - 1, a);
            if (rc)
                return rc;
            if (n->child[i]->used == 0)
                return audit_fail(a, "an empty table was not freed");
            if (mergeable(p, n->child[i]))
                return audit_fail(a, "a uniform table was not merged");
            continue;
        }
        if (read_ent(p, n, i, &e))
            return audit_fail(a, "a leaf does not read back");
        if (!leaf_allowed(p, level))
            return audit_fail(a, "a leaf at a level that forbids leaves");
        if (e.pte.addr & (span_bytes - 1))
            return audit_fail(a, "a leaf's frame is not aligned to its size");
        if ((e.pte.addr >> VC_FRAME_SHIFT) + (span_bytes >> VC_FRAME_SHIFT) > p->oa_frames)
            return audit_fail(a, "a leaf maps beyond the output address width");
        if (!valid_type(e.pte.type) || !valid_access(e.pte.access))
            return audit_fail(a, "a leaf has an invalid type or access");
        if (e.pte.perms & ~vc_p2m_rights((enum vc_p2m_type)e.pte.type,
                                         (enum vc_p2m_access)e.pte.access))
            return audit_fail(a, "a leaf grants more than type AND access");
        if (e.pte.mt != type_memtype(e.pte.type))
            return audit_fail(a, "a leaf has the wrong memory type for its type");
    }
    if (used != n->used)
        return audit_fail(a, "a table's used-entry count is wrong");
    return 0;
}

int vc_p2m_audit(struct vc_p2m *p, const char **msg)
{
    struct audit a = {NULL, 0};
    int rc;

    if (!p)
        return VC_EINVAL;
    vc_lock_acquire(&p->host, &p->lock);
    p->audit_gen++;
    rc = audit_table(p, p->root, p->root->level, &a);
    if (!rc && a.tables != p->nr_tables)
        rc = audit_fail(&a, "the table count does not match the tables reachable");
    vc_lock_release(&p->host, &p->lock);
    if (msg)
        *msg = a.msg;
    return rc;
}

/* ---- stats ------------------------------------------------------------------------------- */

static void stats_table(const struct vc_p2m *p, const struct node *n, struct vc_p2m_stats *st)
{
    st->tables[n->level]++;
    st->table_bytes += n->size + (n->child ? n->nr * sizeof(*n->child) : 0) +
                       (n->side ? n->nr : 0) + sizeof(*n);
    for (unsigned int i = 0; i < n->nr; i++) {
        struct ent e;
        if (read_ent(p, n, i, &e))
            continue;
        if (e.pte.kind == VC_PTE_TABLE) {
            stats_table(p, e.child, st);
        } else if (e.pte.kind == VC_PTE_LEAF) {
            st->leaves[n->level]++;
            st->mapped_frames += (uint64_t)1 << lorder(p, n->level);
        }
    }
}

void vc_p2m_stats(struct vc_p2m *p, struct vc_p2m_stats *st)
{
    vc_memset(st, 0, sizeof(*st));
    vc_lock_acquire(&p->host, &p->lock);
    stats_table(p, p->root, st);
    vc_lock_release(&p->host, &p->lock);
}

/* ---- create / destroy ------------------------------------------------------------------------ */

int vc_p2m_create(const struct vc_host *host, const struct vc_p2m_config *cfg,
                  struct vc_p2m **out)
{
    const struct vc_p2m_format *fmt;
    struct vc_p2m *p;
    int rc;

    if (!out || !cfg || vc_host_check(host) || (cfg->flags & ~(unsigned int)VC_P2M_F_ALL))
        return VC_EINVAL;
    fmt = cfg->custom_format ? cfg->custom_format : vc_p2m_format_get(cfg->format);
    if (!fmt || !fmt->configure || !fmt->leaf_ok || !fmt->encode || !fmt->decode ||
        !fmt->hw_pointer)
        return VC_EINVAL;
    if (!(fmt->sw_fields & VC_FMT_SW_TYPE))
        return VC_ENOTSUP; /* the engine keeps the type in the entry */
    if (fmt->needs_bbm && !cfg->bbm_flush)
        return VC_EINVAL;
    p = vc_host_alloc(host, sizeof(*p));
    if (!p)
        return VC_ENOMEM;
    p->host = *host;
    p->fmt = fmt;
    p->config = *cfg;
    p->cfg = cfg->fmt;
    rc = fmt->configure(&p->cfg);
    if (rc)
        goto fail;
    rc = VC_EINVAL;
    /* Bound what a (custom) format may configure, so no shift below is
     * undefined and the root fits its allocation. */
    if (p->cfg.granule_shift < VC_FRAME_SHIFT || p->cfg.granule_shift > 16 ||
        p->cfg.bits_per_level == 0 || p->cfg.bits_per_level > p->cfg.granule_shift - 3 ||
        p->cfg.root_level >= MAX_LEVELS || p->cfg.ia_bits <= p->cfg.granule_shift ||
        p->cfg.ia_bits > 64 || p->cfg.oa_bits <= p->cfg.granule_shift || p->cfg.oa_bits > 52 ||
        p->cfg.root_entries == 0 || (p->cfg.root_entries & (p->cfg.root_entries - 1)) ||
        /* the root's entries must cover the input space */
        p->cfg.granule_shift + p->cfg.root_level * p->cfg.bits_per_level +
                vc_ctz64(p->cfg.root_entries) < p->cfg.ia_bits ||
        p->cfg.root_size < (size_t)p->cfg.root_entries * 8 ||
        p->cfg.root_size < ((size_t)1 << p->cfg.granule_shift) ||
        (p->cfg.root_size & (p->cfg.root_size - 1)) ||
        (fmt->walk_table_mask && !fmt->walk_addr_mask))
        goto fail;
    p->order0 = p->cfg.granule_shift - VC_FRAME_SHIFT;
    p->side = (fmt->sw_fields & (VC_FMT_SW_ACCESS | VC_FMT_SW_SVE)) !=
              (VC_FMT_SW_ACCESS | VC_FMT_SW_SVE);
    p->ia_frames = (uint64_t)1 << (p->cfg.ia_bits - VC_FRAME_SHIFT);
    p->oa_frames = (uint64_t)1 << (p->cfg.oa_bits - VC_FRAME_SHIFT);
    p->max_leaf = 0;
    for (unsigned int l = 0; l <= p->cfg.root_level; l++)
        if (fmt->leaf_ok(&p->cfg, l) && (cfg->max_order == 0 || lorder(p, l) <= cfg->max_order))
            p->max_leaf = l;
    if (cfg->max_order != 0 && cfg->max_order < p->order0)
        goto fail;
    rc = vc_lock_init(host, &p->lock, VC_LOCK_P2M);
    if (rc)
        goto fail;
    p->root = node_alloc(p, p->cfg.root_level, p->cfg.root_entries, p->cfg.root_size);
    if (!p->root) {
        vc_lock_fini(host, &p->lock);
        rc = VC_ENOMEM;
        goto fail;
    }
    p->nr_tables = 1;
    p->dmap = !p->side && fmt->walk_table_mask && host->ops->direct_map &&
              host->ops->direct_map(host->cookie, &p->dmap_off) &&
              (void *)(intptr_t)((intptr_t)vc_paddr_x(p->root->pa) + p->dmap_off) ==
                  (void *)p->root->va;
    *out = p;
    return 0;
fail:
    vc_host_free(host, p, sizeof(*p));
    return rc;
}

void vc_p2m_destroy(struct vc_p2m *p)
{
    struct vc_host host;

    if (!p)
        return;
    host = p->host;
    free_subtree(p->root);
    vc_lock_fini(&host, &p->lock);
    vc_host_free(&host, p, sizeof(*p));
}

int vc_p2m_set_observer(struct vc_p2m *p, vc_p2m_observer_fn fn, void *arg)
{
    int rc = 0;

    if (!p)
        return VC_EINVAL;
    vc_lock_acquire(&p->host, &p->lock);
    if (fn && p->obs && (p->obs != fn || p->obs_arg != arg))
        rc = VC_EBUSY;
    else {
        p->obs = fn;
        p->obs_arg = fn ? arg : NULL;
    }
    vc_lock_release(&p->host, &p->lock);
    return rc;
}

uint64_t vc_p2m_hw_pointer(const struct vc_p2m *p)
{
    return p->fmt->hw_pointer(&p->cfg, vc_paddr_x(p->root->pa));
}

const struct vc_p2m_format_cfg *vc_p2m_format_cfg(const struct vc_p2m *p)
{
    return &p->cfg;
}

const struct vc_p2m_format *vc_p2m_format(const struct vc_p2m *p)
{
    return p->fmt;
}
