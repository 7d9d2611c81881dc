/* main.c: the portico command: options, configuration, signals, and the gateway's lifetime. */
#include "gateway/gw.h"
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"

#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit statuses: scripts rely on them (docs/cli.md). */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static const char USAGE[] =
    "usage: portico --config FILE [options]\n"
    "       portico connections count|list|get ID|kick ID [options]   (see --help there)\n"
    "       portico --help | --version\n"
    "\n"
    "Runs the Portico gateway: API Gateway WebSocket APIs, self-hosted.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE          configuration file (JSON or YAML), required\n"
    "      --listen HOST:PORT     main port (WebSocket, @connections); overrides server.listen\n"
    "      --admin-listen HOST:PORT\n"
    "                             admin port (health, metrics); overrides server.adminListen\n"
    "      --data-dir DIR         data directory (LMDB registry); overrides server.dataDir\n"
    "      --workers N            worker threads, 0 = one per CPU; overrides server.workers\n"
    "      --port-file FILE       once listening, write {\"listen\": PORT, \"admin\": PORT}\n"
    "      --log-level LEVEL      error, warn, info or debug; overrides server.logLevel\n"
    "      --test-config          check the configuration and exit (0 valid, 2 invalid)\n"
    "  -h, --help                 this text\n"
    "  -V, --version              print the version\n"
    "\n"
    "Port 0 picks a free port; read it from --port-file. SIGTERM or SIGINT stops the gateway:\n"
    "every WebSocket is closed with 1001 and $disconnect runs for each.\n";

/* "HOST:PORT", "[v6]:PORT", ":PORT" -> host (malloc'd) and port. */
static int parse_hostport(const char *s, char **host, int *port)
{
    const char *colon;
    char *h;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return PT_EINVAL;
        h = pt_xstrndup(s + 1, (size_t)(rb - s - 1));
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return PT_EINVAL;
        h = colon == s ? pt_xstrdup("0.0.0.0") : pt_xstrndup(s, (size_t)(colon - s));
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535) {
        free(h);
        return PT_EINVAL;
    }
    *host = h;
    *port = (int)p;
    return PT_OK;
}

int main(int argc, char **argv)
{
    enum { O_LISTEN = 256, O_ADMIN, O_DATA, O_WORKERS, O_PORTFILE, O_TEST, O_LOG };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, O_LISTEN},
        {"admin-listen", required_argument, NULL, O_ADMIN},
        {"data-dir", required_argument, NULL, O_DATA},
        {"workers", required_argument, NULL, O_WORKERS},
        {"port-file", required_argument, NULL, O_PORTFILE},
        {"log-level", required_argument, NULL, O_LOG},
        {"test-config", no_argument, NULL, O_TEST},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    if (argc > 1 && strcmp(argv[1], "connections") == 0)
        return gw_cli_connections(argc - 1, argv + 1);
    const char *config = NULL, *listen = NULL, *admin = NULL, *data_dir = NULL;
    const char *port_file = NULL, *log_level = NULL;
    long workers = -1;
    bool test_only = false;
    int o;
    while ((o = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            config = optarg;
            break;
        case O_LISTEN:
            listen = optarg;
            break;
        case O_ADMIN:
            admin = optarg;
            break;
        case O_DATA:
            data_dir = optarg;
            break;
        case O_WORKERS: {
            char *end;
            workers = strtol(optarg, &end, 10);
            if (*end || workers < 0 || workers > 64) {
                fprintf(stderr, "portico: --workers: expected 0..64, got '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case O_PORTFILE:
            port_file = optarg;
            break;
        case O_LOG:
            log_level = optarg;
            break;
        case O_TEST:
            test_only = true;
            break;
        case 'h':
            fputs(USAGE, stdout);
            return EXIT_OK;
        case 'V':
            printf("portico %s\n", PORTICO_VERSION);
            return EXIT_OK;
        default:
            fputs(USAGE, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "portico: unexpected argument '%s'\n%s", argv[optind], USAGE);
        return EXIT_USAGE;
    }
    if (!config) {
        fprintf(stderr, "portico: --config FILE is required\n%s", USAGE);
        return EXIT_USAGE;
    }

    route_config_t *cfg = NULL;
    buf_t err = BUF_INIT;
    if (route_config_load_file(config, &cfg, &err) != PT_OK) {
        fprintf(stderr, "%s%s", err.p ? err.p : "invalid configuration",
                err.len && err.p[err.len - 1] == '\n' ? "" : "\n");
        buf_free(&err);
        return EXIT_USAGE;
    }
    /* Command-line overrides; the strings are ours (freed at exit), not the config's, so the
     * config's own pointers are put back before it is freed. */
    char *listen_host = NULL, *admin_host = NULL;
    char *orig_listen = cfg->server.listen.host, *orig_admin = cfg->server.admin_listen.host;
    char *orig_data_dir = cfg->server.data_dir;
    int rc = EXIT_OK;
    if (listen && parse_hostport(listen, &listen_host, &cfg->server.listen.port) != PT_OK) {
        fprintf(stderr, "portico: --listen: expected HOST:PORT, got '%s'\n", listen);
        rc = EXIT_USAGE;
        goto restore;
    }
    if (listen_host)
        cfg->server.listen.host = listen_host;
    if (admin && parse_hostport(admin, &admin_host, &cfg->server.admin_listen.port) != PT_OK) {
        fprintf(stderr, "portico: --admin-listen: expected HOST:PORT, got '%s'\n", admin);
        rc = EXIT_USAGE;
        goto restore;
    }
    if (admin_host)
        cfg->server.admin_listen.host = admin_host;
    if (data_dir)
        cfg->server.data_dir = (char *)data_dir;
    if (workers >= 0)
        cfg->server.workers = (int)workers;
    const char *lvl = log_level ? log_level : cfg->server.log_level;
    if (lvl) {
        int l = gw_log_parse_level(lvl);
        if (l < 0) {
            fprintf(stderr, "portico: log level must be error, warn, info or debug, got '%s'\n",
                    lvl);
            rc = EXIT_USAGE;
            goto restore;
        }
        gw_log_set_level(l);
    }
    if (test_only) {
        printf("portico: configuration file %s test is successful\n", config);
        goto restore;
    }

    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "portico: cannot initialise libsodium or libcurl\n");
        rc = EXIT_RUNTIME;
        goto restore;
    }
    /* Signals are taken synchronously by this thread only; workers never see them. SIGINT
     * stays ignored when it was ignored at start (a background job of a script, nohup): the
     * script's own Ctrl-C handling stops us, in its order (demo.sh: Portico first). */
    sigset_t set;
    struct sigaction old_int;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    if (sigaction(SIGINT, NULL, &old_int) != 0 || old_int.sa_handler != SIG_IGN)
        sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    gw_server_t srv;
    if (gw_server_start(&srv, cfg, port_file, &err) != PT_OK) {
        fprintf(stderr, "portico: %s\n", err.p ? err.p : "cannot start");
        rc = EXIT_RUNTIME;
        curl_global_cleanup();
        goto restore;
    }
    int sig = 0;
    sigwait(&set, &sig);
    LOG_INFO("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    gw_server_stop(&srv);
    curl_global_cleanup();
restore:
    cfg->server.listen.host = orig_listen;
    cfg->server.admin_listen.host = orig_admin;
    cfg->server.data_dir = orig_data_dir;
    buf_free(&err);
    route_config_free(cfg);
    free(listen_host);
    free(admin_host);
    return rc;
}
