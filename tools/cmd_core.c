/* SPDX-License-Identifier: MIT */
/* Core subcommands: errors, cpumask, flush. */
#include <stdlib.h>
#include <string.h>
#include <virtcore/virtcore.h>

#include "virtcore.h"

/* ---- errors ------------------------------------------------------------------ */

static int errors_run(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return tool_usage(&cmd_errors);
    for (int e = 0; e >= VC_ERROR_MIN; e--)
        printf("%4d  %-14s %s\n", e, vc_errname(e), vc_strerror(e));
    return 0;
}

const struct tool_cmd cmd_errors = {
    .name = "errors",
    .summary = "list the library's error codes",
    .usage = "",
    .run = errors_run,
};

/* ---- cpumask ----------------------------------------------------------------- */

static void print_mask(FILE *out, const char *label, const struct vc_cpumask *m)
{
    static char buf[1 << 16];

    if (vc_cpumask_format(m, buf, sizeof(buf)) < 0)
        strcpy(buf, "(too long)");
    fprintf(out, "%-8s %s  (weight %u)\n", label, *buf ? buf : "(empty)",
            vc_cpumask_weight(m));
}

static int cpumask_run(int argc, char **argv)
{
    unsigned long long ncpus = 8192;
    struct vc_cpumask *acc = NULL, *opnd = NULL;
    struct vc_hosted *h;
    int i = 1, rc = 1;

    if (argc >= 3 && !strcmp(argv[1], "--cpus")) {
        if (!tool_parse_u64(argv[2], VC_CPUMASK_MAX_CPUS, &ncpus) || ncpus == 0)
            return tool_error("cpumask", "--cpus takes 1..%u", VC_CPUMASK_MAX_CPUS);
        i = 3;
    }
    /* LIST [OP LIST]... with OP one of and, or, andnot */
    if (i >= argc || (argc - i) % 2 == 0)
        return tool_usage(&cmd_cpumask);
    if (vc_hosted_create(NULL, &h))
        return tool_error("cpumask", "cannot create the hosted layer");
    if (vc_cpumask_create(vc_hosted_host(h), (unsigned int)ncpus, &acc) ||
        vc_cpumask_create(vc_hosted_host(h), (unsigned int)ncpus, &opnd)) {
        tool_error("cpumask", "out of memory");
        goto out;
    }
    for (int k = i; k < argc; k += 2) {
        struct vc_cpumask *dst = k == i ? acc : opnd;
        int prc;

        vc_cpumask_clear_all(dst);
        prc = vc_cpumask_parse(dst, argv[k]);
        if (prc) {
            tool_error("cpumask", "'%s': %s", argv[k], vc_strerror(prc));
            goto out;
        }
        if (k == i)
            continue;
        if (!strcmp(argv[k - 1], "and"))
            vc_cpumask_and(acc, acc, opnd);
        else if (!strcmp(argv[k - 1], "or"))
            vc_cpumask_or(acc, acc, opnd);
        else if (!strcmp(argv[k - 1], "andnot"))
            vc_cpumask_andnot(acc, acc, opnd);
        else {
            tool_error("cpumask", "unknown operator '%s' (and, or, andnot)", argv[k - 1]);
            goto out;
        }
    }
    print_mask(stdout, "result", acc);
    printf("first    %u\n", vc_cpumask_first(acc));
    printf("words    %u of 64 bits for %llu CPUs\n", acc->nr_words, ncpus);
    rc = 0;
out:
    vc_cpumask_destroy(opnd);
    vc_cpumask_destroy(acc);
    vc_hosted_destroy(h);
    return rc;
}

static void cpumask_demo(FILE *out)
{
    uint64_t a_st[VC_CPUMASK_WORDS(8192)], b_st[VC_CPUMASK_WORDS(8192)];
    struct vc_cpumask a, b;

    vc_cpumask_init(&a, a_st, 8192);
    vc_cpumask_init(&b, b_st, 8192);
    vc_cpumask_parse(&a, "0-127,4096-8191");
    vc_cpumask_parse(&b, "64-5000");
    fprintf(out, "CPUs that may cache an address space, and those that are lazy:\n");
    print_mask(out, "dirty", &a);
    print_mask(out, "lazy", &b);
    vc_cpumask_andnot(&a, &a, &b);
    print_mask(out, "to IPI", &a);
}

const struct tool_cmd cmd_cpumask = {
    .name = "cpumask",
    .summary = "evaluate CPU-list expressions over a runtime-sized mask",
    .usage = "[--cpus N] LIST [and|or|andnot LIST]...   (LIST like 0-3,8)",
    .run = cpumask_run,
    .demo = cpumask_demo,
};

/* ---- flush ------------------------------------------------------------------- */

static int parse_kind(const char *s, enum vc_flush_kind *k)
{
    static const enum vc_flush_kind kinds[] = {VC_FLUSH_NONE, VC_FLUSH_ADDED,
                                               VC_FLUSH_MODIFIED, VC_FLUSH_STRUCTURAL};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (!strcmp(s, vc_flush_kind_name(kinds[i]))) {
            *k = kinds[i];
            return 1;
        }
    return 0;
}

static void print_flush(FILE *out, const struct vc_flush *f)
{
    fprintf(out, "flush: %s", vc_flush_kind_name(f->kind));
    if (f->whole)
        fprintf(out, ", whole address space");
    for (unsigned int i = 0; i < f->nr_ranges; i++)
        fprintf(out, "%s[%#llx, %#llx)", i ? " " : ", frames ",
                (unsigned long long)f->ranges[i].start, (unsigned long long)f->ranges[i].end);
    fprintf(out, "%s\n", vc_flush_required(f) ? "" : " (no flush needed unless the "
                                                      "hardware caches non-present entries)");
}

static int flush_run(int argc, char **argv)
{
    struct vc_flush f;

    if (argc < 2)
        return tool_usage(&cmd_flush);
    vc_flush_init(&f);
    for (int i = 1; i < argc; i++) {
        char kind[16], *colon = strchr(argv[i], ':'), *plus;
        unsigned long long start, count;
        enum vc_flush_kind k;

        if (!colon || (size_t)(colon - argv[i]) >= sizeof(kind))
            return tool_error("flush", "'%s': expected KIND:START+COUNT or KIND:all", argv[i]);
        memcpy(kind, argv[i], (size_t)(colon - argv[i]));
        kind[colon - argv[i]] = '\0';
        if (!parse_kind(kind, &k))
            return tool_error("flush", "'%s': unknown kind (none, added, modified, structural)",
                              kind);
        if (!strcmp(colon + 1, "all")) {
            vc_flush_add_all(&f, k);
            continue;
        }
        plus = strchr(colon + 1, '+');
        if (!plus)
            return tool_error("flush", "'%s': expected START+COUNT", argv[i]);
        *plus = '\0';
        if (!tool_parse_u64(colon + 1, UINT64_MAX, &start) ||
            !tool_parse_u64(plus + 1, UINT64_MAX, &count) || count == 0)
            return tool_error("flush", "'%s+%s': bad frame range", colon + 1, plus + 1);
        vc_flush_add(&f, k, start, count);
    }
    print_flush(stdout, &f);
    return 0;
}

static void flush_demo(FILE *out)
{
    struct vc_flush f;

    vc_flush_init(&f);
    fprintf(out, "A p2m operation maps 512 new frames, then changes one present entry:\n");
    vc_flush_add(&f, VC_FLUSH_ADDED, 0x1000, 512);
    print_flush(out, &f);
    vc_flush_add(&f, VC_FLUSH_MODIFIED, 0x1200, 1);
    print_flush(out, &f);
    fprintf(out, "Five scattered changes fold into %d ranges (over-cover is safe):\n",
            VC_FLUSH_MAX_RANGES);
    for (int i = 0; i < 5; i++)
        vc_flush_add(&f, VC_FLUSH_MODIFIED, 0x10000 + (uint64_t)i * 0x100 * (i + 1), 1);
    print_flush(out, &f);
    vc_flush_complete(&f);
}

const struct tool_cmd cmd_flush = {
    .name = "flush",
    .summary = "accumulate changes into one flush request and print it",
    .usage = "KIND:START+COUNT|KIND:all...   (KIND: none, added, modified, structural)",
    .run = flush_run,
    .demo = flush_demo,
};
