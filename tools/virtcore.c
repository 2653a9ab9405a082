/* SPDX-License-Identifier: MIT */
/*
 * virtcore: exposes each libvirtcore module on the command line.
 * Errors go to stderr with exit status 1; usage errors exit with 2.
 */
#include "virtcore.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <virtcore/virtcore.h>

static const struct tool_cmd *const commands[] = {
    &cmd_errors,
    &cmd_cpumask,
    &cmd_flush,
    &cmd_p2m,
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

int tool_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "virtcore %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int tool_usage(const struct tool_cmd *cmd)
{
    fprintf(stderr, "usage: virtcore %s %s\n", cmd->name, cmd->usage);
    return 2;
}

int tool_parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return 0;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return 0;
    *out = v;
    return 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: virtcore [--help] [--version] COMMAND [ARGS...]\n"
            "\n"
            "libvirtcore %s: virtualization building blocks, on the command line.\n"
            "\n"
            "commands:\n"
            "  %-10s %s\n"
            "  %-10s %s\n",
            vc_version(), "demo", "show what the library does, module by module",
            "help", "help CMD: the usage of one command");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
}

static int run_demo(void)
{
    printf("libvirtcore %s demo\n", vc_version());
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (!commands[i]->demo)
            continue;
        printf("\n== %s: %s ==\n", commands[i]->name, commands[i]->summary);
        commands[i]->demo(stdout);
    }
    return 0;
}

static const struct tool_cmd *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    const struct tool_cmd *cmd;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("virtcore %s\n", vc_version());
        return 0;
    }
    if (!strcmp(argv[1], "demo")) {
        if (argc != 2) {
            fprintf(stderr, "usage: virtcore demo\n");
            return 2;
        }
        return run_demo();
    }
    if (!strcmp(argv[1], "help")) {
        if (argc != 3) {
            usage(stdout);
            return argc == 2 ? 0 : 2;
        }
        cmd = find(argv[2]);
        if (!cmd)
            return tool_error("help", "unknown command '%s'", argv[2]);
        printf("virtcore %s: %s\nusage: virtcore %s %s\n", cmd->name, cmd->summary,
               cmd->name, cmd->usage);
        return 0;
    }
    cmd = find(argv[1]);
    if (!cmd) {
        fprintf(stderr, "virtcore: unknown command '%s' (try --help)\n", argv[1]);
        return 2;
    }
    return cmd->run(argc - 1, argv + 1);
}
