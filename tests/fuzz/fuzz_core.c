/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the core: arbitrary text through the cpumask list
 * parser (format/parse must round-trip, a rejected list must leave the mask
 * unchanged), and arbitrary bytes as a flush-request sequence (every frame
 * added must stay covered, ranges must stay sorted and disjoint).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <virtcore/virtcore.h>

#define NCPUS 1024

static void fuzz_cpumask(const uint8_t *data, size_t size)
{
    static uint64_t s1[VC_CPUMASK_WORDS(NCPUS)], s2[VC_CPUMASK_WORDS(NCPUS)];
    static char text[4096], out[8192];
    struct vc_cpumask a, b;
    size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;

    memcpy(text, data, n);
    text[n] = '\0';
    vc_cpumask_init(&a, s1, NCPUS);
    vc_cpumask_init(&b, s2, NCPUS);
    vc_cpumask_set(&a, 7);
    if (vc_cpumask_parse(&a, text) != 0) {
        if (vc_cpumask_weight(&a) != 1 || !vc_cpumask_test(&a, 7))
            abort(); /* a rejected list changed the mask */
        return;
    }
    if (vc_cpumask_format(&a, out, sizeof(out)) < 0)
        abort();
    if (vc_cpumask_parse(&b, out) != 0 || !vc_cpumask_equal(&a, &b))
        abort();
}

static void fuzz_flush(const uint8_t *data, size_t size)
{
    struct vc_flush f;
    uint64_t starts[64], counts[64];
    size_t n = 0;

    vc_flush_init(&f);
    while (size >= 5 && n < 64) {
        enum vc_flush_kind k = (enum vc_flush_kind)(data[0] % 4);
        starts[n] = (uint64_t)data[1] << 8 | data[2];
        counts[n] = 1 + ((uint64_t)data[3] << 8 | data[4]) % 512;
        vc_flush_add(&f, k, starts[n], counts[n]);
        if (k != VC_FLUSH_NONE)
            n++;
        data += 5;
        size -= 5;
    }
    for (unsigned int r = 0; r + 1 < f.nr_ranges; r++)
        if (f.ranges[r].end >= f.ranges[r + 1].start)
            abort();
    for (size_t i = 0; i < n; i++)
        for (uint64_t fr = starts[i]; fr < starts[i] + counts[i]; fr++)
            if (!vc_flush_covers(&f, fr))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_cpumask(data + 1, size - 1);
    else
        fuzz_flush(data + 1, size - 1);
    return 0;
}
