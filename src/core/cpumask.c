/* SPDX-License-Identifier: MIT */
/* Runtime-sized CPU masks. Every loop is over words, never over CPUs. */
#include <virtcore/cpumask.h>

#include "internal/core.h"

/* Mask of the valid bits in the last word. */
static uint64_t tail_mask(const struct vc_cpumask *m)
{
    unsigned int r = m->nr_cpus % 64;
    return r ? (UINT64_C(1) << r) - 1 : UINT64_MAX;
}

int vc_cpumask_init(struct vc_cpumask *m, uint64_t *storage, unsigned int nr_cpus)
{
    if (!m || !storage || nr_cpus == 0 || nr_cpus > VC_CPUMASK_MAX_CPUS)
        return VC_EINVAL;
    m->nr_cpus = nr_cpus;
    m->nr_words = VC_CPUMASK_WORDS(nr_cpus);
    m->words = storage;
    m->host = NULL;
    vc_cpumask_clear_all(m);
    return 0;
}

int vc_cpumask_create(const struct vc_host *host, unsigned int nr_cpus,
                      struct vc_cpumask **out)
{
    struct vc_cpumask *m;
    uint64_t *w;

    if (!out || vc_host_check(host) || nr_cpus == 0 || nr_cpus > VC_CPUMASK_MAX_CPUS)
        return VC_EINVAL;
    m = vc_host_alloc(host, sizeof(*m));
    if (!m)
        return VC_ENOMEM;
    w = vc_host_alloc(host, VC_CPUMASK_WORDS(nr_cpus) * sizeof(uint64_t));
    if (!w) {
        vc_host_free(host, m, sizeof(*m));
        return VC_ENOMEM;
    }
    vc_cpumask_init(m, w, nr_cpus);
    m->host = host;
    *out = m;
    return 0;
}

void vc_cpumask_destroy(struct vc_cpumask *m)
{
    const struct vc_host *host;

    if (!m || !m->host)
        return;
    host = m->host;
    vc_host_free(host, m->words, m->nr_words * sizeof(uint64_t));
    vc_host_free(host, m, sizeof(*m));
}

void vc_cpumask_clear_all(struct vc_cpumask *m)
{
    vc_memset(m->words, 0, m->nr_words * sizeof(uint64_t));
}

void vc_cpumask_set_all(struct vc_cpumask *m)
{
    vc_memset(m->words, 0xff, m->nr_words * sizeof(uint64_t));
    m->words[m->nr_words - 1] &= tail_mask(m);
}

int vc_cpumask_set(struct vc_cpumask *m, unsigned int cpu)
{
    if (cpu >= m->nr_cpus)
        return VC_ERANGE;
    m->words[cpu / 64] |= UINT64_C(1) << (cpu % 64);
    return 0;
}

int vc_cpumask_clear(struct vc_cpumask *m, unsigned int cpu)
{
    if (cpu >= m->nr_cpus)
        return VC_ERANGE;
    m->words[cpu / 64] &= ~(UINT64_C(1) << (cpu % 64));
    return 0;
}

bool vc_cpumask_test(const struct vc_cpumask *m, unsigned int cpu)
{
    return cpu < m->nr_cpus && (m->words[cpu / 64] >> (cpu % 64)) & 1;
}

#define BINOP(name, expr)                                                       \
    int vc_cpumask_##name(struct vc_cpumask *dst, const struct vc_cpumask *a,   \
                          const struct vc_cpumask *b)                           \
    {                                                                           \
        if (dst->nr_cpus != a->nr_cpus || a->nr_cpus != b->nr_cpus)             \
            return VC_EINVAL;                                                   \
        for (unsigned int i = 0; i < a->nr_words; i++) {                        \
            uint64_t x = a->words[i], y = b->words[i];                          \
            dst->words[i] = (expr);                                             \
        }                                                                       \
        return 0;                                                               \
    }

BINOP(and, x & y)
BINOP(or, x | y)
BINOP(andnot, x & ~y)

int vc_cpumask_copy(struct vc_cpumask *dst, const struct vc_cpumask *src)
{
    if (dst->nr_cpus != src->nr_cpus)
        return VC_EINVAL;
    vc_memmove(dst->words, src->words, src->nr_words * sizeof(uint64_t));
    return 0;
}

unsigned int vc_cpumask_weight(const struct vc_cpumask *m)
{
    unsigned int n = 0;

    for (unsigned int i = 0; i < m->nr_words; i++)
        n += vc_popcount64(m->words[i]);
    return n;
}

bool vc_cpumask_empty(const struct vc_cpumask *m)
{
    for (unsigned int i = 0; i < m->nr_words; i++)
        if (m->words[i])
            return false;
    return true;
}

bool vc_cpumask_equal(const struct vc_cpumask *a, const struct vc_cpumask *b)
{
    return a->nr_cpus == b->nr_cpus &&
           vc_memcmp(a->words, b->words, a->nr_words * sizeof(uint64_t)) == 0;
}

bool vc_cpumask_intersects(const struct vc_cpumask *a, const struct vc_cpumask *b)
{
    if (a->nr_cpus != b->nr_cpus)
        return false;
    for (unsigned int i = 0; i < a->nr_words; i++)
        if (a->words[i] & b->words[i])
            return true;
    return false;
}

bool vc_cpumask_subset(const struct vc_cpumask *a, const struct vc_cpumask *b)
{
    if (a->nr_cpus != b->nr_cpus)
        return false;
    for (unsigned int i = 0; i < a->nr_words; i++)
        if (a->words[i] & ~b->words[i])
            return false;
    return true;
}

/* First set bit at or above 'from', or nr_cpus. */
static unsigned int find_from(const struct vc_cpumask *m, unsigned int from)
{
    unsigned int i;
    uint64_t w;

    if (from >= m->nr_cpus)
        return m->nr_cpus;
    i = from / 64;
    w = m->words[i] & (UINT64_MAX << (from % 64));
    for (;;) {
        if (w)
            return i * 64 + vc_ctz64(w);
        if (++i >= m->nr_words)
            return m->nr_cpus;
        w = m->words[i];
    }
}

unsigned int vc_cpumask_first(const struct vc_cpumask *m)
{
    return find_from(m, 0);
}

unsigned int vc_cpumask_next(const struct vc_cpumask *m, unsigned int cpu)
{
    if (cpu >= m->nr_cpus - 1)
        return m->nr_cpus;
    return find_from(m, cpu + 1);
}

/* ---- list syntax ---------------------------------------------------------- */

/* Parse a decimal number at *p; advance *p. */
static int parse_num(const char **p, unsigned int *out)
{
    const char *s = *p;
    uint64_t v = 0;

    if (*s < '0' || *s > '9')
        return VC_EINVAL;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return VC_ERANGE;
        s++;
    }
    *p = s;
    *out = (unsigned int)v;
    return 0;
}

/* Walk the list; with set == false only validate. */
static int parse_list(struct vc_cpumask *m, const char *s, bool set)
{
    if (*s == '\0')
        return 0;
    for (;;) {
        unsigned int lo, hi;
        int rc = parse_num(&s, &lo);

        if (rc)
            return rc;
        hi = lo;
        if (*s == '-') {
            s++;
            rc = parse_num(&s, &hi);
            if (rc)
                return rc;
            if (hi < lo)
                return VC_EINVAL;
        }
        if (hi >= m->nr_cpus)
            return VC_ERANGE;
        if (set) {
            /* Word-wise fill of [lo, hi]. */
            unsigned int wlo = lo / 64, whi = hi / 64;
            for (unsigned int w = wlo; w <= whi; w++) {
                uint64_t bits = UINT64_MAX;
                if (w == wlo)
                    bits &= UINT64_MAX << (lo % 64);
                if (w == whi)
                    bits &= UINT64_MAX >> (63 - hi % 64);
                m->words[w] |= bits;
            }
        }
        if (*s == '\0')
            return 0;
        if (*s != ',')
            return VC_EINVAL;
        s++;
    }
}

int vc_cpumask_parse(struct vc_cpumask *m, const char *s)
{
    int rc;

    if (!m || !s)
        return VC_EINVAL;
    rc = parse_list(m, s, false);
    if (rc)
        return rc;
    return parse_list(m, s, true);
}

/* Append the decimal form of v at buf[*pos]; false if it does not fit. */
static bool put_num(char *buf, size_t len, size_t *pos, unsigned int v)
{
    char tmp[12];
    unsigned int n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (len - *pos <= n)
        return false;
    while (n)
        buf[(*pos)++] = tmp[--n];
    return true;
}

static bool put_char(char *buf, size_t len, size_t *pos, char c)
{
    if (len - *pos <= 1)
        return false;
    buf[(*pos)++] = c;
    return true;
}

int vc_cpumask_format(const struct vc_cpumask *m, char *buf, size_t len)
{
    size_t pos = 0;
    unsigned int cpu;
    bool first = true;

    if (!m || !buf || len == 0)
        return VC_ENOSPC;
    cpu = vc_cpumask_first(m);
    while (cpu < m->nr_cpus) {
        unsigned int end = cpu;

        /* Extend the run; whole words at a time where they are full. */
        while (end + 1 < m->nr_cpus && vc_cpumask_test(m, end + 1)) {
            if ((end + 1) % 64 == 0 && m->words[(end + 1) / 64] == UINT64_MAX)
                end += 64;
            else
                end++;
        }
        if ((!first && !put_char(buf, len, &pos, ',')) ||
            !put_num(buf, len, &pos, cpu) ||
            (end != cpu && (!put_char(buf, len, &pos, '-') ||
                            !put_num(buf, len, &pos, end)))) {
            buf[0] = '\0';
            return VC_ENOSPC;
        }
        first = false;
        cpu = vc_cpumask_next(m, end);
    }
    buf[pos] = '\0';
    if (pos > INT_MAX)
        return VC_EOVERFLOW;
    return (int)pos;
}
