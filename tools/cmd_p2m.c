/* SPDX-License-Identifier: MIT */
/* virtcore p2m: build a p2m from a small map description and dump it. */
#include <stdlib.h>
#include <string.h>
#include <virtcore/virtcore.h>

#include "virtcore.h"

struct fmt_choice {
    const char *name;
    enum vc_p2m_format_id id;
    unsigned int levels, granule_shift, ia_bits, oa_bits;
};

static const struct fmt_choice formats[] = {
    {"ept", VC_P2M_FMT_EPT, 4, 0, 48, 46},
    {"ept5", VC_P2M_FMT_EPT, 5, 0, 57, 52},
    {"arm", VC_P2M_FMT_ARM_S2, 0, 12, 40, 40},
    {"arm16k", VC_P2M_FMT_ARM_S2, 0, 14, 40, 40},
    {"arm64k", VC_P2M_FMT_ARM_S2, 0, 16, 42, 44},
    {"x86-64", VC_P2M_FMT_X86_64, 0, 0, 48, 46},
};

static int parse_type(const char *s, enum vc_p2m_type *t)
{
    for (int i = 1; i < VC_P2M_NR_TYPES; i++)
        if (!strcmp(s, vc_p2m_type_name((enum vc_p2m_type)i))) {
            *t = (enum vc_p2m_type)i;
            return 1;
        }
    return 0;
}

static int parse_access(const char *s, enum vc_p2m_access *a)
{
    for (int i = 0; i < VC_ACCESS_NR; i++)
        if (!strcmp(s, vc_p2m_access_name((enum vc_p2m_access)i))) {
            *a = (enum vc_p2m_access)i;
            return 1;
        }
    return 0;
}

/* "GFN+NR" */
static int parse_range(const char *s, unsigned long long *gfn, unsigned long long *nr)
{
    char buf[64], *plus;

    if (strlen(s) >= sizeof(buf))
        return 0;
    strcpy(buf, s);
    plus = strchr(buf, '+');
    if (!plus)
        return 0;
    *plus = '\0';
    return tool_parse_u64(buf, UINT64_MAX, gfn) && tool_parse_u64(plus + 1, UINT64_MAX, nr);
}

static void bbm_noop(void *arg, vc_gfn_t gfn, unsigned int order)
{
    (void)arg, (void)gfn, (void)order;
}

/* Dump state: consecutive leaves with the same attributes and contiguous
 * frames print as one line. */
struct dump {
    FILE *out;
    unsigned int root_level;
    bool open;
    struct vc_p2m_visit run;
    uint64_t run_count;
};

static void flush_run(struct dump *d)
{
    const struct vc_p2m_visit *v = &d->run;
    unsigned long long nr = (unsigned long long)d->run_count << v->order;

    if (!d->open)
        return;
    fprintf(d->out, "%*sL%u gfn %#llx-%#llx  %llu x %s leaf -> mfn %#llx  %s %s%s\n",
            2 * (d->root_level - v->level), "", v->level,
            (unsigned long long)vc_gfn_x(v->gfn), (unsigned long long)(vc_gfn_x(v->gfn) + nr - 1),
            (unsigned long long)d->run_count,
            v->order >= 18 ? (v->order == 18 ? "1G" : "huge") :
            v->order >= 9 ? (v->order == 9 ? "2M" : "block") : (v->order == 0 ? "4K" : "page"),
            (unsigned long long)(vc_mfn_x(v->entry.mfn)), vc_p2m_type_name(v->entry.type),
            vc_p2m_access_name(v->entry.access), v->entry.sve ? "" : " !sve");
    d->open = false;
}

static int dump_cb(const struct vc_p2m_visit *v, void *arg)
{
    struct dump *d = arg;

    if (v->kind == VC_VISIT_LEAF && d->open && d->run.level == v->level &&
        vc_gfn_x(d->run.gfn) + (d->run_count << v->order) == vc_gfn_x(v->gfn) &&
        vc_mfn_x(d->run.entry.mfn) + (d->run_count << v->order) == vc_mfn_x(v->entry.mfn) &&
        d->run.entry.type == v->entry.type && d->run.entry.access == v->entry.access &&
        d->run.entry.sve == v->entry.sve) {
        d->run_count++;
        return 0;
    }
    flush_run(d);
    if (v->kind == VC_VISIT_LEAF) {
        d->run = *v;
        d->run_count = 1;
        d->open = true;
    } else if (v->kind == VC_VISIT_TABLE_PRE) {
        fprintf(d->out, "%*sL%u gfn %#llx-%#llx  table at %#llx\n",
                2 * (d->root_level - v->level), "", v->level,
                (unsigned long long)vc_gfn_x(v->gfn),
                (unsigned long long)(vc_gfn_x(v->gfn) + (UINT64_C(1) << v->order) - 1),
                (unsigned long long)v->pte.addr);
    }
    return 0;
}

static void dump(FILE *out, struct vc_p2m *p)
{
    const struct vc_p2m_format_cfg *c = vc_p2m_format_cfg(p);
    struct dump d = {out, c->root_level, false, {0}, 0};
    struct vc_p2m_walker w = {dump_cb, &d, VC_VISIT_LEAF | VC_VISIT_TABLE_PRE};
    struct vc_p2m_stats st;

    fprintf(out, "format %s: %u-bit input, %u-bit output, root level %u with %u entries, "
                 "hardware pointer %#llx\n",
            vc_p2m_format(p)->name, c->ia_bits, c->oa_bits, c->root_level, c->root_entries,
            (unsigned long long)vc_p2m_hw_pointer(p));
    if (c->vtcr)
        fprintf(out, "VTCR_EL2 %#llx\n", (unsigned long long)c->vtcr);
    vc_p2m_walk(p, vc_gfn(0), UINT64_C(1) << (c->ia_bits - 12), &w);
    flush_run(&d);
    vc_p2m_stats(p, &st);
    fprintf(out, "tables:");
    for (unsigned int l = 0; l <= c->root_level; l++)
        fprintf(out, " L%u=%llu", l, (unsigned long long)st.tables[l]);
    fprintf(out, "  leaves:");
    for (unsigned int l = 0; l <= c->root_level; l++)
        fprintf(out, " L%u=%llu", l, (unsigned long long)st.leaves[l]);
    fprintf(out, "  %llu frames mapped, %llu bytes of tables\n",
            (unsigned long long)st.mapped_frames, (unsigned long long)st.table_bytes);
}

static int apply(const char *cmd, struct vc_p2m *p, const char *arg, struct vc_flush *f)
{
    char buf[128], *parts[5] = {0};
    int np = 0, rc;
    unsigned long long gfn, nr, mfn;
    enum vc_p2m_type t = VC_P2M_RAM_RW, t2;
    enum vc_p2m_access a = VC_ACCESS_RWX;

    if (strlen(arg) >= sizeof(buf))
        return tool_error(cmd, "'%s': too long", arg);
    strcpy(buf, arg);
    for (char *s = strtok(buf, ":"); s && np < 5; s = strtok(NULL, ":"))
        parts[np++] = s;
    if (np >= 2 && !strcmp(parts[0], "map")) {
        char *eq = strchr(parts[1], '=');
        if (!eq)
            return tool_error(cmd, "'%s': map needs GFN+NR=MFN", arg);
        *eq = '\0';
        if (!parse_range(parts[1], &gfn, &nr) || !tool_parse_u64(eq + 1, UINT64_MAX, &mfn) ||
            (np > 2 && !parse_type(parts[2], &t)) || (np > 3 && !parse_access(parts[3], &a)))
            return tool_error(cmd, "'%s': expected map:GFN+NR=MFN[:TYPE[:ACCESS]]", arg);
        rc = vc_p2m_map(p, vc_gfn(gfn), vc_mfn(mfn), nr, t, a, f);
    } else if (np < 2 || !parse_range(parts[1], &gfn, &nr)) {
        return tool_error(cmd, "'%s': expected OP:GFN+NR...", arg);
    } else if (!strcmp(parts[0], "unmap") && np == 2) {
        rc = vc_p2m_unmap(p, vc_gfn(gfn), nr, f);
    } else if (!strcmp(parts[0], "type") && np == 4 && parse_type(parts[2], &t) &&
               parse_type(parts[3], &t2)) {
        rc = vc_p2m_change_type(p, vc_gfn(gfn), nr, t, t2, f);
    } else if (!strcmp(parts[0], "access") && np == 3 && parse_access(parts[2], &a)) {
        rc = vc_p2m_set_access(p, vc_gfn(gfn), nr, a, f);
    } else {
        return tool_error(cmd, "'%s': unknown operation (see virtcore help p2m)", arg);
    }
    if (rc)
        return tool_error(cmd, "'%s': %s", arg, vc_strerror(rc));
    return 0;
}

static int run_p2m(FILE *out, const struct fmt_choice *fc, int nops, char **ops)
{
    struct vc_hosted *h;
    struct vc_p2m *p = NULL;
    struct vc_p2m_config cfg = {0};
    struct vc_flush f;
    const char *msg;
    int rc = 1;

    if (vc_hosted_create(NULL, &h))
        return tool_error("p2m", "cannot create the hosted layer");
    cfg.format = fc->id;
    cfg.fmt.levels = fc->levels;
    cfg.fmt.granule_shift = fc->granule_shift;
    cfg.fmt.ia_bits = fc->ia_bits;
    cfg.fmt.oa_bits = fc->oa_bits;
    cfg.bbm_flush = bbm_noop;
    if ((rc = vc_p2m_create(vc_hosted_host(h), &cfg, &p)) != 0) {
        tool_error("p2m", "create: %s", vc_strerror(rc));
        vc_hosted_destroy(h);
        return 1;
    }
    rc = 0;
    for (int i = 0; i < nops && !rc; i++) {
        vc_flush_init(&f);
        rc = apply("p2m", p, ops[i], &f);
        if (!rc) {
            fprintf(out, "%-40s flush %s", ops[i], vc_flush_kind_name(f.kind));
            for (unsigned int r = 0; r < f.nr_ranges; r++)
                fprintf(out, " [%#llx,%#llx)", (unsigned long long)f.ranges[r].start,
                        (unsigned long long)f.ranges[r].end);
            if (f.nr_deferred)
                fprintf(out, ", %u tables freed after it", f.nr_deferred);
            fputc('\n', out);
        }
        vc_flush_complete(&f);
    }
    if (!rc) {
        dump(out, p);
        if (vc_p2m_audit(p, &msg) != 0)
            rc = tool_error("p2m", "audit failed: %s", msg);
        else
            fprintf(out, "audit: ok\n");
    }
    vc_p2m_destroy(p);
    vc_hosted_destroy(h);
    return rc;
}

static int p2m_run(int argc, char **argv)
{
    const struct fmt_choice *fc = &formats[0];
    int i = 1;

    if (argc >= 3 && !strcmp(argv[1], "--format")) {
        fc = NULL;
        for (size_t k = 0; k < sizeof(formats) / sizeof(formats[0]); k++)
            if (!strcmp(argv[2], formats[k].name))
                fc = &formats[k];
        if (!fc)
            return tool_error("p2m", "unknown format '%s' (ept, ept5, arm, arm16k, arm64k, "
                                     "x86-64)", argv[2]);
        i = 3;
    }
    if (i >= argc)
        return tool_usage(&cmd_p2m);
    return run_p2m(stdout, fc, argc - i, argv + i);
}

static void p2m_demo(FILE *out)
{
    static char a0[] = "map:0x0+0x40000=0x100000", a1[] = "access:0x1234+1:r",
                a2[] = "type:0x0+0x40000:ram_rw:ram_logdirty", a3[] = "access:0x1234+1:rwx";
    char *ops[] = {a0, a1, a2, a3};

    fprintf(out, "Map 1 GiB, restrict one page (the 1G leaf splits), enable log-dirty over\n"
                 "it all, then restore the page (the tables merge back):\n");
    run_p2m(out, &formats[0], 4, ops);
}

const struct tool_cmd cmd_p2m = {
    .name = "p2m",
    .summary = "build a second-stage page table from operations and dump it",
    .usage = "[--format ept|ept5|arm|arm16k|arm64k|x86-64] OP...\n"
             "  OP: map:GFN+NR=MFN[:TYPE[:ACCESS]]  unmap:GFN+NR  type:GFN+NR:FROM:TO\n"
             "      access:GFN+NR:ACCESS   (frames are 4 KiB; TYPE ram_rw, ram_ro, ...;\n"
             "      ACCESS n, r, rw, rx, rwx, rx2rw, ...)",
    .run = p2m_run,
    .demo = p2m_demo,
};
