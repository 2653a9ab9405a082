/* SPDX-License-Identifier: MIT */
/*
 * Common main() for the Check suites: TAP on stdout (meson's test protocol),
 * nothing else, exit status 0 only if every test passed.
 */
#ifndef TESTS_COMMON_CHECK_MAIN_H
#define TESTS_COMMON_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int vc_check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
