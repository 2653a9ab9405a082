/* SPDX-License-Identifier: MIT */
/* A consumer of the installed library (pkg-config) or the subproject. */
#include <stdio.h>
#include <string.h>
#include <virtcore/virtcore.h>

int main(void)
{
    struct vc_hosted *h;
    struct vc_cpumask *m;
    char buf[32];

    if (strcmp(vc_version(), VC_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", VC_VERSION_STRING, vc_version());
        return 1;
    }
    if (vc_hosted_create(NULL, &h) ||
        vc_cpumask_create(vc_hosted_host(h), 64, &m) ||
        vc_cpumask_parse(m, "1-3,9") || vc_cpumask_format(m, buf, sizeof(buf)) < 0 ||
        strcmp(buf, "1-3,9") != 0) {
        fprintf(stderr, "consumer: library call failed\n");
        return 1;
    }
    vc_cpumask_destroy(m);
    vc_hosted_destroy(h);
    printf("ok: consumer linked libvirtcore %s (%s)\n", vc_version(), vc_strerror(VC_ENOMEM));
    return 0;
}
