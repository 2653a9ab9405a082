/* SPDX-License-Identifier: MIT */
/* The virtcore tool: one subcommand per module capability. */
#ifndef TOOLS_VIRTCORE_H
#define TOOLS_VIRTCORE_H

#include <stdio.h>

struct tool_cmd {
    const char *name;
    const char *summary;
    const char *usage; /* printed by `virtcore help NAME` and on usage errors */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    void (*demo)(FILE *out);           /* section of `virtcore demo`, or NULL */
};

/* Report an error on stderr ("virtcore NAME: ...") and return 1. */
int tool_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the usage of a subcommand on stderr and return 2. */
int tool_usage(const struct tool_cmd *cmd);
/* Parse an unsigned number (decimal, 0x hex); false if malformed or > max. */
int tool_parse_u64(const char *s, unsigned long long max, unsigned long long *out);

extern const struct tool_cmd cmd_errors, cmd_cpumask, cmd_flush, cmd_p2m;

#endif
