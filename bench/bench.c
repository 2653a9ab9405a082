/* SPDX-License-Identifier: MIT */
/*
 * virtcore-bench: prints one JSON object per line,
 *   {"bench":"...","unit":"...","value":V,"baseline":B,"ratio":V/B}
 * where the baseline is a simpler implementation of the same work measured
 * in the same run. Use --quick for a short run (CI), --list to see names,
 * and NAME prefixes as arguments to select.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <virtcore/virtcore.h>

static const struct bench *const suites[] = {bench_core, bench_p2m};

static volatile uint64_t sink;

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sink(uint64_t v)
{
    sink += v;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

void bench_report(const char *name, const char *unit, double value, double baseline)
{
    printf("{\"bench\":");
    json_str(name);
    printf(",\"unit\":");
    json_str(unit);
    printf(",\"value\":%.6g,\"baseline\":%.6g,\"ratio\":%.4g}\n", value, baseline,
           baseline > 0 ? value / baseline : 0.0);
    fflush(stdout);
}

static int selected(const char *name, int argc, char **argv, int first)
{
    if (first >= argc)
        return 1;
    for (int i = first; i < argc; i++)
        if (strncmp(name, argv[i], strlen(argv[i])) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_ctx ctx = {0};
    int first = 1, list = 0, ran = 0;

    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "--quick"))
            ctx.quick = true;
        else if (!strcmp(argv[first], "--list"))
            list = 1;
        else if (!strcmp(argv[first], "--help")) {
            printf("usage: virtcore-bench [--quick] [--list] [NAME-PREFIX...]\n"
                   "One JSON object per line: bench, unit, value, baseline, ratio.\n");
            return 0;
        } else {
            fprintf(stderr, "virtcore-bench: unknown option '%s'\n", argv[first]);
            return 2;
        }
    }
    for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
        for (const struct bench *b = suites[s]; b->name; b++) {
            if (!selected(b->name, argc, argv, first))
                continue;
            ran++;
            if (list) {
                puts(b->name);
                continue;
            }
            if (b->run(&ctx) != 0) {
                fprintf(stderr, "virtcore-bench: %s failed\n", b->name);
                return 1;
            }
        }
    }
    if (!ran) {
        fprintf(stderr, "virtcore-bench: no benchmark matches\n");
        return 2;
    }
    return 0;
}
