/* SPDX-License-Identifier: MIT */
/* Shared fixtures of the p2m suite. */
#ifndef TESTS_P2M_P2M_TEST_H
#define TESTS_P2M_P2M_TEST_H

#include <check.h>
#include <virtcore/virtcore.h>

#include "testhost.h"

/* A format configuration under test. */
struct fmt_case {
    const char *name;
    enum vc_p2m_format_id id;
    const struct vc_p2m_format *custom; /* test formats */
    struct vc_p2m_format_cfg fmt;
};

extern const struct fmt_case fmt_cases[];
extern const unsigned int nr_fmt_cases;

/* A p2m on a test host, with a counting break-before-make callback. */
struct fx {
    struct testhost *th;
    struct vc_p2m *p;
    unsigned long bbm_calls;
    const struct fmt_case *fc;
    unsigned int order0; /* frames order of one granule */
};

void fx_init(struct fx *fx, const struct fmt_case *fc, unsigned int flags);
/* The same, choosing whether the host offers its direct map. */
void fx_init_dm(struct fx *fx, const struct fmt_case *fc, unsigned int flags, bool direct_map);
/* Destroy and assert nothing leaked and no host misuse. */
void fx_fini(struct fx *fx);
/* Assert vc_p2m_audit() passes. */
void fx_audit(struct fx *fx);

void p2m_add_format_tests(Suite *s);
void p2m_add_regress_tests(Suite *s);
void p2m_add_concurrency_tests(Suite *s);

#endif
