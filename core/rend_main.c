/*
 * rend_main.c - the rend program's command line: parse it, then build and
 * run a server with the public rend_server_* calls (rend_server.c), which
 * own the listeners, accept, signals and reload.
 */
#include "config.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_cmd.h"
#include "rend_compat.h"
#include "rend_config.h"
#include "rend_log.h"
#include "rend_server_int.h"
#include "rend_settings.h"
#include "rend_tls.h"
#include "rend_tool.h"
#include "rend_util.h"

#define DEFAULT_MAX_CONNS 16384 /* rend_server.c's default, for usage */

/* the extra addresses -l gives the first listener */
#define MAX_EXTRA_ADDRS 16
static const char *config_path;
static char *compat_text;
static unsigned cli_threads, cli_max_conns;
static int cli_port = -1;
static uint64_t cli_item_max;
/* -l: the first TCP listener's addresses (NULL: the config's) */
static char *cli_addrs[MAX_EXTRA_ADDRS + 1];
static unsigned cli_naddrs;
/* -Z and -o ssl_*: the TLS every TCP listener without its own tls{} gets
 * (rend_settings.tls points here once -Z is checked) */
static int cli_tls_on;
static struct rend_tls_conf cli_tls;
static char *cli_tls_str[5]; /* cert key ca ciphers min_version, owned */
static int cli_tls_given;    /* some -o ssl_* was given */

static void
usage(FILE *f)
{
    fprintf(f,
        "Usage: rend [options]\n"
        "memcached's flags (they override the config's first listener and\n"
        "settings):\n"
        "  -p, --port PORT       TCP port of the first listener (0 = any)\n"
        "  -l, --listen ADDR[,ADDR...]  address(es) of the first listener\n"
        "                        (with Rend's flags: of every TCP listener)\n"
        "  -m, --memory-limit MB memory of the in-process (inmem) L1\n"
        "  -c, --conn-limit N    connection limit (default %d)\n"
        "  -t, --threads N       worker threads (default: number of cores)\n"
        "  -I, --max-item-size S item size limit, e.g. 1m, 512k (default 1m)\n"
        "  -U, --udp-port 0      accepted (rend has no UDP; only 0)\n"
        "  -F, --disable-flush-all  refuse flush_all\n"
        "  -Y, --auth-file FILE  every listener requires authentication\n"
        "                        against FILE's user:password lines\n"
        "  -Z, --enable-ssl      TLS on every TCP listener without its own\n"
        "                        tls{}; needs -o ssl_chain_cert=,ssl_key=\n"
        "  -o, --extended OPT[,OPT...]  memcached's TLS options:\n"
        "                        ssl_chain_cert=FILE  certificate chain (PEM)\n"
        "                        ssl_key=FILE         its private key (PEM)\n"
        "                        ssl_ca_cert=FILE     CA for client certificates\n"
        "                        ssl_verify_mode=N    0 none, 1 request,\n"
        "                                             2 and 3 require one\n"
        "                        ssl_min_version=N    0..3 = TLS 1.0..1.3\n"
        "                                             (default 2, TLS 1.2)\n"
        "                        ssl_ciphers=LIST     TLS <= 1.2 (OpenSSL syntax)\n"
        "                        (ssl_keyformat=1, ssl_session_cache and\n"
        "                        ssl_wbuf_size are accepted; rend's are fixed)\n"
        "  -v, --verbose         more logging (-vv for debug)\n"
        "  -V, --version         print the version and exit\n"
        "  -h, --help            this text\n"
        "rend's own flags:\n"
        "      --config FILE     Lua config (default: the embedded rend.lua)\n"
        "      --max-conns N     the same as -c\n"
        "      --plugin-dir DIR  where handler plugins are (or $REND_PLUGIN_DIR)\n"
        "      --port-file FILE  write each listener's port (or socket path)\n"
        "      --check-config    load the config, report, and exit\n"
        "      --dump NAME       list the items of handler NAME (rend stopped)\n"
        "      --count NAME      count them\n"
        "      --verify NAME     walk them all and report problems\n"
        "      --print-config    print the embedded default config and exit\n"
        "      --commands        print the command table (route keys, text\n"
        "                        commands, binary opcodes) and exit\n"
        "      --version         print the version and exit\n"
        "  -h, --help            this text\n"
        "Netflix Rend flags (used when no --config FILE is given):\n"
        "%s",
        DEFAULT_MAX_CONNS, rend_compat_usage());
}

/* -l ADDR[,ADDR...] (repeatable); "[::1]" is taken as "::1". */
static int
add_listen_addrs(const char *arg)
{
    char *copy = strdup(arg), *save = NULL;

    if (copy == NULL) {
        return -1;
    }
    for (char *a = strtok_r(copy, ",", &save); a != NULL;
         a = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(a);
        if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
            a[n - 1] = '\0';
            a++;
        }
        if (*a == '\0') {
            continue;
        }
        if (cli_naddrs > MAX_EXTRA_ADDRS) {
            fprintf(stderr, "rend: -l: at most %d addresses\n",
                    MAX_EXTRA_ADDRS + 1);
            free(copy);
            return -1;
        }
        cli_addrs[cli_naddrs] = strdup(a);
        if (cli_addrs[cli_naddrs] == NULL) {
            free(copy);
            return -1;
        }
        cli_naddrs++;
    }
    free(copy);
    if (cli_naddrs == 0) {
        fprintf(stderr, "rend: -l: no address given\n");
        return -1;
    }
    return 0;
}

/* One -o KEY[=VALUE]; 0, or -1 with a message on stderr. */
static int
ext_opt(const char *k, const char *v)
{
    static const char *const paths[] = { "ssl_chain_cert", "ssl_key",
                                         "ssl_ca_cert", "ssl_ciphers" };
    uint32_t n;

    for (unsigned i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (strcmp(k, paths[i]) == 0) {
            if (v == NULL || *v == '\0') {
                fprintf(stderr, "rend: -o %s needs a value (%s=...)\n", k,
                        k);
                return -1;
            }
            free(cli_tls_str[i]);
            cli_tls_str[i] = strdup(v);
            cli_tls_given = 1;
            return cli_tls_str[i] != NULL ? 0 : -1;
        }
    }
    if (strcmp(k, "ssl_verify_mode") == 0) {
        if (v == NULL || rend_parse_u32(v, strlen(v), &n) != 0 || n > 3) {
            fprintf(stderr, "rend: -o ssl_verify_mode takes 0 (none), 1 "
                    "(request), 2 (require) or 3 (require once): %s\n",
                    v ? v : "");
            return -1;
        }
        /* memcached's 3 (once) asks at the first handshake only, which is
         * the only one a session has here: the same as 2 */
        cli_tls.verify = n == 0 ? REND_TLS_VERIFY_NONE
                         : n == 1 ? REND_TLS_VERIFY_REQUEST
                                  : REND_TLS_VERIFY_REQUIRE;
        cli_tls_given = 1;
        return 0;
    }
    if (strcmp(k, "ssl_min_version") == 0) {
        static const char *const names[] = { "1.0", "1.1", "1.2", "1.3" };
        if (v == NULL || rend_parse_u32(v, strlen(v), &n) != 0 || n > 3) {
            fprintf(stderr, "rend: -o ssl_min_version takes 0..3 (TLS 1.0, "
                    "1.1, 1.2, 1.3): %s\n", v ? v : "");
            return -1;
        }
        free(cli_tls_str[4]);
        cli_tls_str[4] = strdup(names[n]);
        cli_tls_given = 1;
        return cli_tls_str[4] != NULL ? 0 : -1;
    }
    if (strcmp(k, "ssl_keyformat") == 0) {
        if (v == NULL || strcmp(v, "1") != 0) {
            fprintf(stderr, "rend: -o ssl_keyformat: rend reads PEM keys "
                    "only (ssl_keyformat=1)\n");
            return -1;
        }
        return 0;
    }
    if (strcmp(k, "ssl_session_cache") == 0 || strcmp(k, "ssl_wbuf_size") == 0) {
        if (v != NULL && strcmp(k, "ssl_wbuf_size") == 0
            && rend_parse_u32(v, strlen(v), &n) != 0) {
            fprintf(stderr, "rend: -o ssl_wbuf_size takes kilobytes: %s\n", v);
            return -1;
        }
        rend_log(REND_LOG_INFO, "-o %s: accepted, no effect (rend's session "
                 "cache is on, its TLS writes gather %u bytes)", k,
                 REND_TLS_WBUF);
        return 0;
    }
    fprintf(stderr, "rend: -o %s: not an option rend has (its -o takes "
            "memcached's ssl_* options; see rend --help)\n", k);
    return -1;
}

/* -o OPT[=VALUE][,OPT...] (repeatable), as memcached splits it. */
static int
ext_opts(const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    int rc = 0;

    if (copy == NULL) {
        return -1;
    }
    for (char *o = strtok_r(copy, ",", &save); o != NULL && rc == 0;
         o = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(o, '=');
        if (eq != NULL) {
            *eq++ = '\0';
        }
        rc = ext_opt(o, eq);
    }
    free(copy);
    return rc;
}

/* After the flags: -Z needs its certificate; 0, or the exit status. */
static int
check_cli_tls(void)
{
    if (!cli_tls_on) {
        if (cli_tls_given) {
            fprintf(stderr, "rend: -o ssl_* given without -Z: add -Z to "
                    "enable TLS\n");
            return 1;
        }
        return 0;
    }
    if (!rend_tls_available()) {
        fprintf(stderr, "rend: -Z: this rend was built without TLS support "
                "(configure found no OpenSSL, or --disable-tls)\n");
        return 1;
    }
    if (cli_tls_str[0] == NULL || cli_tls_str[1] == NULL) {
        fprintf(stderr, "rend: -Z needs a certificate and its key: -o "
                "ssl_chain_cert=FILE,ssl_key=FILE (PEM)\n");
        return 1;
    }
    if (cli_tls.verify != REND_TLS_VERIFY_NONE && cli_tls_str[2] == NULL) {
        fprintf(stderr, "rend: -o ssl_verify_mode=%d needs ssl_ca_cert=FILE "
                "(the CA bundle that signs client certificates)\n",
                cli_tls.verify);
        return 1;
    }
    cli_tls.cert = cli_tls_str[0];
    cli_tls.key = cli_tls_str[1];
    cli_tls.ca = cli_tls_str[2];
    cli_tls.ciphers = cli_tls_str[3];
    cli_tls.min_version = cli_tls_str[4];
    rend_settings.tls = &cli_tls; /* read by rend_config.c */
    return 0;
}

static int
parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (end == s) {
        return -1;
    }
    if (*end == 'k' || *end == 'K') {
        v *= 1024;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        v *= 1024 * 1024;
        end++;
    } else if (*end == 'g' || *end == 'G') {
        v *= 1024ULL * 1024 * 1024;
        end++;
    }
    if (*end != '\0' || v < 1024 || v > 1024ULL * 1024 * 1024) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Run the server the command line describes; returns the exit status. */
static int run_server(const char *port_file, const char *plugin_dir,
                      int check_only, int tool_mode, const char *tool_name);

int
rend_main(int argc, char **argv)
{
    enum { O_PLUGIN_DIR = 256, O_PORT_FILE, O_CHECK, O_PRINT,
           O_DUMP, O_COUNT, O_VERIFY, O_CONFIG, O_COMMANDS };
    static const struct option base[] = {
        { "config", required_argument, NULL, O_CONFIG },
        { "max-conns", required_argument, NULL, 'c' },
        { "conn-limit", required_argument, NULL, 'c' },
        { "memory-limit", required_argument, NULL, 'm' },
        { "listen", required_argument, NULL, 'l' },
        { "udp-port", required_argument, NULL, 'U' },
        { "disable-flush-all", no_argument, NULL, 'F' },
        { "auth-file", required_argument, NULL, 'Y' },
        { "enable-ssl", no_argument, NULL, 'Z' },
        { "extended", required_argument, NULL, 'o' },
        { "port", required_argument, NULL, 'p' },
        { "threads", required_argument, NULL, 't' },
        { "max-item-size", required_argument, NULL, 'I' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "plugin-dir", required_argument, NULL, O_PLUGIN_DIR },
        { "port-file", required_argument, NULL, O_PORT_FILE },
        { "check-config", no_argument, NULL, O_CHECK },
        { "print-config", no_argument, NULL, O_PRINT },
        { "commands", no_argument, NULL, O_COMMANDS },
        { "version", no_argument, NULL, 'V' },
        { "dump", required_argument, NULL, O_DUMP },
        { "count", required_argument, NULL, O_COUNT },
        { "verify", required_argument, NULL, O_VERIFY },
    };
    struct option longopts[64];
    size_t nbase = sizeof(base) / sizeof(base[0]);
    const char *port_file = NULL, *tool_name = NULL;
    int check_only = 0, opt, tool_mode = 0;
    const char *plugin_dir = NULL;
    char err[1024];

    memcpy(longopts, base, sizeof(base));
    nbase += rend_compat_options(longopts + nbase, 63 - nbase);
    memset(&longopts[nbase], 0, sizeof(longopts[0]));

    rend_settings.started = 0;
    unsetenv("REND_CLI_MEMORY_MB"); /* only -m sets it */
    rend_log_init();
    while ((opt = getopt_long_only(argc, argv, "c:m:l:p:t:I:U:FY:Zo:dvVh",
                                   longopts, NULL)) != -1) {
        uint32_t n;
        switch (opt) {
        case O_CONFIG:
            config_path = optarg;
            break;
        case 'c':
            if (rend_parse_u32(optarg, strlen(optarg), &n) != 0) {
                /* -c FILE was the config before rend took memcached's
                 * flags: say where it went rather than guess */
                fprintf(stderr, "rend: -c takes a connection limit (as "
                        "memcached's -c), not \"%s\"; give the config "
                        "file with --config FILE\n", optarg);
                return 2;
            }
            if (n == 0 || n > 1048576) {
                fprintf(stderr, "rend: bad connection limit: %s "
                        "(1..1048576)\n", optarg);
                return 2;
            }
            cli_max_conns = n;
            break;
        case 'm':
            if (rend_parse_u32(optarg, strlen(optarg), &n) != 0 || n == 0
                || n > 1048576) {
                fprintf(stderr, "rend: -m takes the L1 memory in megabytes "
                        "(1..1048576; the connection limit is -c): %s\n",
                        optarg);
                return 2;
            }
            /* read by rend/config.lua, in every VM that runs the config,
             * at start and on each reload */
            setenv("REND_CLI_MEMORY_MB", optarg, 1);
            break;
        case 'l':
            if (add_listen_addrs(optarg) != 0) {
                return 2;
            }
            break;
        case 'U':
            if (rend_parse_u32(optarg, strlen(optarg), &n) != 0 || n != 0) {
                fprintf(stderr, "rend: -U %s: rend has no UDP listener; "
                        "only -U 0 is accepted\n", optarg);
                return 2;
            }
            break;
        case 'F':
            rend_settings.flush_disabled = 1;
            break;
        case 'Y': /* read by rend_config.c for every listener */
            rend_settings.auth_file = optarg;
            break;
        case 'Z':
            cli_tls_on = 1;
            break;
        case 'o':
            if (ext_opts(optarg) != 0) {
                return 2;
            }
            break;
        case 'd':
            fprintf(stderr, "rend: -d: rend does not daemonize; run it in "
                    "the foreground (systemd: rend.service)\n");
            return 2;
        case 'p':
            if (rend_parse_u32(optarg, strlen(optarg), &n) != 0 || n > 65535) {
                fprintf(stderr, "rend: bad port: %s\n", optarg);
                return 2;
            }
            cli_port = (int)n;
            break;
        case 't':
            if (rend_parse_u32(optarg, strlen(optarg), &n) != 0 || n == 0
                || n > 256) {
                fprintf(stderr, "rend: bad thread count: %s\n", optarg);
                return 2;
            }
            cli_threads = n;
            break;
        case 'I':
            if (parse_size(optarg, &cli_item_max) != 0) {
                fprintf(stderr, "rend: bad item size: %s (1k to 1g)\n", optarg);
                return 2;
            }
            break;
        case 'v':
            rend_settings.verbose++;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case O_PLUGIN_DIR:
            plugin_dir = optarg;
            break;
        case O_PORT_FILE:
            port_file = optarg;
            break;
        case O_CHECK:
            check_only = 1;
            break;
        case O_COMMANDS:
            rend_cmd_print(stdout);
            return 0;
        case O_PRINT:
            fputs(rend_embedded("rend.lua"), stdout);
            return 0;
        case 'V':
            printf("rend %s\n", PACKAGE_VERSION);
            return 0;
        case O_DUMP: case O_COUNT: case O_VERIFY:
            tool_mode = opt == O_DUMP ? REND_TOOL_DUMP
                        : opt == O_COUNT ? REND_TOOL_COUNT : REND_TOOL_VERIFY;
            tool_name = optarg;
            break;
        default:
            if (rend_compat_option(opt, optarg) == 0) {
                break;
            }
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rend: unexpected argument: %s\n", argv[optind]);
        return 2;
    }
    {
        int rc = check_cli_tls();
        if (rc != 0) {
            return rc;
        }
    }
    rend_log_level = REND_LOG_WARN + rend_settings.verbose;
    if (rend_log_level > REND_LOG_DEBUG) {
        rend_log_level = REND_LOG_DEBUG;
    }
    if (config_path == NULL && rend_compat_used()) {
        compat_text = rend_compat_config(err, sizeof(err));
        if (compat_text == NULL) {
            fprintf(stderr, "rend: %s\n", err);
            return 2;
        }
        if (cli_port < 0) {
            cli_port = rend_compat_port();
        }
    }
    rend_clock_tick();
    rend_settings.started = rend_now();
    return run_server(port_file, plugin_dir, check_only, tool_mode,
                      tool_name);
}

/* The config the command line names: --config FILE, else the Netflix
 * Rend flags' config, else the embedded default. */
static int
load_config(rend_server *s)
{
    if (config_path != NULL) {
        return rend_server_load_config(s, config_path);
    }
    if (compat_text != NULL) {
        return rend_server_load_config_string(s, compat_text,
                                              "(command-line flags)");
    }
    return rend_server_load_config(s, NULL);
}

static int
run_server(const char *port_file, const char *plugin_dir, int check_only,
           int tool_mode, const char *tool_name)
{
    rend_server *s = rend_server_new();
    int rc = 1;

    if (s == NULL) {
        fprintf(stderr, "rend: %s\n", rend_server_error(NULL));
        goto out;
    }
    if (plugin_dir != NULL && rend_server_set_plugin_dir(s, plugin_dir) != 0) {
        fprintf(stderr, "rend: --plugin-dir: %s\n", rend_server_error(s));
        rc = 2;
        goto out;
    }
    if (load_config(s) != 0) {
        fprintf(stderr, "rend: config error: %s\n", rend_server_error(s));
        goto out;
    }
    if (tool_mode) {
        rc = rend_tool_run(rend_srv_gen(s), tool_name, tool_mode, stdout);
        goto out;
    }
    if (check_only) {
        const struct rend_gen *g = rend_srv_gen(s);
        printf("%s: OK (%u listeners, %u handlers)\n", g->source,
               g->nlisteners, g->nhinsts);
        rc = 0;
        goto out;
    }
    if ((cli_threads && rend_server_set_threads(s, cli_threads) != 0)
        || (cli_max_conns && rend_server_set_max_conns(s, cli_max_conns) != 0)
        || (cli_item_max && rend_server_set_item_size_max(s, cli_item_max)
                                != 0)
        || rend_srv_first_listener(s, cli_addrs, cli_naddrs, cli_port,
                                   compat_text != NULL) != 0
        || rend_server_set_port_file(s, port_file) != 0
        || rend_server_handle_signals(s, 1) != 0
        || rend_server_start(s) != 0) {
        fprintf(stderr, "rend: %s\n", rend_server_error(s));
        goto out;
    }
    rc = rend_server_run(s) == 0 ? 0 : 1;
    {
        /* exiting: a repeated SIGTERM must not kill the process once
         * destroy has put the default action back (it stays pending
         * here, the last thread, and dies with the process) */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
    }
    rend_log(REND_LOG_INFO, "bye");
out:
    rend_server_destroy(s);
    free(compat_text);
    compat_text = NULL;
    for (unsigned i = 0; i < cli_naddrs; i++) {
        free(cli_addrs[i]);
    }
    cli_naddrs = 0;
    rend_settings.tls = NULL;
    for (unsigned i = 0; i < sizeof(cli_tls_str) / sizeof(cli_tls_str[0]);
         i++) {
        free(cli_tls_str[i]);
        cli_tls_str[i] = NULL;
    }
    memset(&cli_tls, 0, sizeof(cli_tls));
    cli_tls_on = cli_tls_given = 0;
    return rc;
}
