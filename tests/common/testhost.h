/* SPDX-License-Identifier: MIT */
/*
 * The test host: host ops that count every allocation and free, detect
 * leaks, double frees and size mismatches, and fail the Nth allocation on
 * request, so every module can prove its failure paths leave nothing behind.
 *
 * It forwards to a hosted instance (real memory with consistent fake
 * physical addresses) and records each live allocation in a hash table.
 */
#ifndef TESTS_COMMON_TESTHOST_H
#define TESTS_COMMON_TESTHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <virtcore/host.h>

struct testhost;

/* Create a test host; aborts the test program on failure. */
struct testhost *testhost_new(void);
/* Destroy it (does not check for leaks: call testhost_live() first). */
void testhost_free(struct testhost *t);
const struct vc_host *testhost_host(struct testhost *t);

/* Fail the nth allocation attempt (page or object, 1-based) counted from
 * now; 0 disarms. Lock creation counts as an allocation. */
void testhost_fail_nth(struct testhost *t, unsigned long n);
/* Whether an armed failure was injected since the last testhost_fail_nth(). */
bool testhost_injected(const struct testhost *t);
/* Allocation attempts since creation (successful or not). */
unsigned long testhost_attempts(const struct testhost *t);

/* Live allocations: page-table blocks, objects and locks. */
size_t testhost_live(const struct testhost *t);
size_t testhost_live_pages(const struct testhost *t);
size_t testhost_live_objects(const struct testhost *t);
size_t testhost_live_locks(const struct testhost *t);
/* Misuse seen: double or unknown frees, size mismatches, phys_to_virt of a
 * non-page, lock misuse. Each also sets the message below. */
unsigned long testhost_errors(const struct testhost *t);
const char *testhost_last_error(const struct testhost *t);
/* Log messages received at each level (enum vc_log_level index). */
unsigned long testhost_logs(const struct testhost *t, unsigned int level);
/* Offer the hosted arena's direct map to objects created afterwards
 * (default: on), so both lookup paths can be tested. */
void testhost_set_direct_map(struct testhost *t, bool on);
/* Print log messages to stderr (default: silent). */
void testhost_set_verbose(struct testhost *t, bool on);

#endif
