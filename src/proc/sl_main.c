/*
 * sl_main.c: command line.
 */
#include "sl_core.h"
#include "sl_cycle.h"
#include "sl_process.h"



static void
sl_usage(FILE *f)
{
    fprintf(f,
        "usage: sluice [-c FILE] [-t] [-f] [-V] [-h]\n"
        "  -c FILE  configuration file (default %s/sluice/sluice.conf)\n"
        "  -t       test the configuration and exit\n"
        "  -f       stay in the foreground\n"
        "  -V       print the version and build options\n"
        "  -h       this help\n", SL_SYSCONFDIR);
}

int
main(int argc, char **argv)
{
    static char default_conf[] = SL_SYSCONFDIR "/sluice/sluice.conf";
    char err[SL_CONF_ERRLEN + 128];
    struct sl_cycle *cycle;
    int ch;

    sl_pid = getpid();
    sl_proctitle_init(argc, argv);
    sl_options.conf_file = default_conf;
    while ((ch = getopt(argc, argv, "c:tfVh")) != -1) {
        switch (ch) {
        case 'c':
            sl_options.conf_file = optarg;
            break;
        case 't':
            sl_options.test_only = 1;
            break;
        case 'f':
            sl_options.foreground = 1;
            break;
        case 'V':
            printf("sluice version %s\n", SL_VERSION);
            printf("configure arguments:%s\n", SL_CONFIGURE_ARGS);
            return 0;
        case 'h':
            sl_usage(stdout);
            return 0;
        default:
            sl_usage(stderr);
            return 1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "sluice: unexpected argument \"%s\"\n", argv[optind]);
        sl_usage(stderr);
        return 1;
    }

    sl_time_update();
    err[0] = '\0';
    cycle = sl_cycle_load(sl_options.conf_file, err, sizeof(err));
    if (cycle == NULL) {
        fprintf(stderr, "sluice: %s\n", err);
        return 1;
    }
    if (sl_options.test_only) {
        sl_pool_destroy(cycle->pool);
        printf("configuration OK\n");
        return 0;
    }
    return sl_master_run(cycle);
}
