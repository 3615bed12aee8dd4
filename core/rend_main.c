/*
 * rend_main.c - command line, listeners, accept, signals, reload.
 * The main thread owns the listening sockets and the config generations;
 * workers own connections.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ev.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "rend_cmd.h"
#include "rend_admin.h"
#include "rend_compat.h"
#include "rend_config.h"
#include "rend_hist.h"
#include "rend_log.h"
#include "rend_plugin.h"
#include "rend_settings.h"
#include "rend_sock.h"
#include "rend_stats.h"
#include "rend_tool.h"
#include "rend_util.h"
#include "rend_worker.h"

#define DEFAULT_MAX_CONNS 16384

struct rend_settings rend_settings = {
    .item_size_max = 1024 * 1024,
    .version = PACKAGE_VERSION, /* major.minor.patch, as clients parse it */
};

extern uint64_t rend_config_reloads;
extern uint64_t rend_config_reload_failures;

struct listener {
    int fd;
    unsigned index;
    ev_io io;
    char *unix_path;
};

/* the config's listeners, plus the extra addresses -l gives the first */
#define MAX_EXTRA_ADDRS 16
static struct listener listeners[REND_MAX_LISTENERS + MAX_EXTRA_ADDRS];
static unsigned nlisteners;
static struct rend_gen *current;
static const char *config_path;
static char *compat_text;
static unsigned cli_threads, cli_max_conns;
static int cli_port = -1;
static uint64_t cli_item_max;
/* -l: the first TCP listener's addresses (NULL: the config's) */
static char *cli_addrs[MAX_EXTRA_ADDRS + 1];
static unsigned cli_naddrs;
static int admin_port = -1; /* the admin listener's bound port */

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

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct listener *l = w->data;

    for (int i = 0; i < 64; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                rend_log(REND_LOG_WARN, "accept: %s", strerror(errno));
            }
            return;
        }
        if (__atomic_load_n(&rend_curr_conns, __ATOMIC_RELAXED)
            >= rend_settings.max_conns) {
            static const char msg[] =
                "SERVER_ERROR too many open connections\r\n";
            if (write(fd, msg, sizeof(msg) - 1) < 0) {
                /* closing anyway */
            }
            close(fd);
            if (rend_nworkers > 0) {
                REND_STAT_INC(&rend_workers[0].st, rejected_connections);
            }
            continue;
        }
        /* counted here, not when a worker adopts it, so a burst of
         * accepts cannot overshoot the limit */
        __atomic_add_fetch(&rend_curr_conns, 1, __ATOMIC_RELAXED);
        /* /metrics; atomic because workers read it against their closes */
        __atomic_add_fetch(&rend_listener_accepted[l->index], 1,
                           __ATOMIC_RELAXED);
        rend_workers_dispatch(fd, l->index);
    }
}

static int
listen_tcp(const char *host, int port, int *bound_port)
{
    struct addrinfo hints, *res, *ai;
    char portstr[16];
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res);
    if (rc != 0) {
        rend_log(REND_LOG_ERR, "listen %s:%d: %s", host ? host : "*", port,
                 gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK
                    | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0
            && listen(fd, 1024) == 0) {
            break;
        }
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        rend_log(REND_LOG_ERR, "listen %s:%d: %s", host ? host : "*", port,
                 strerror(errno));
        return -1;
    }
    {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        *bound_port = ntohs(ss.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)&ss)->sin6_port
                            : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}

static int
listen_unix(const struct rend_listen_conf *lc)
{
    return rend_unix_listen(lc->unix_path, lc->unix_mode);
}

static int
open_listeners(struct ev_loop *loop, struct rend_gen *g, const char *port_file)
{
    FILE *pf = NULL;
    char tmp[4096];

    if (port_file != NULL) {
        /* written under a temporary name, then renamed: a reader never
         * sees a partial file */
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        pf = fopen(tmp, "w");
        if (pf == NULL) {
            rend_log(REND_LOG_ERR, "%s: %s", port_file, strerror(errno));
            return -1;
        }
    }
    for (unsigned i = 0; i < g->nlisteners && i < REND_MAX_LISTENERS; i++) {
        const struct rend_listen_conf *lc = &g->listeners[i];
        /* -l gives listener 0 (in Rend's flag mode: every TCP listener)
         * one socket per address, all on one port */
        int use_cli = cli_naddrs > 0 && (i == 0 || compat_text != NULL);
        unsigned naddr = use_cli && lc->unix_path == NULL ? cli_naddrs : 1;
        int port = 0;

        if (use_cli && lc->unix_path != NULL) {
            rend_log(REND_LOG_WARN, "-l does not apply to the unix socket %s",
                     lc->unix_path);
        }
        for (unsigned a = 0; a < naddr; a++) {
            struct listener *l = &listeners[nlisteners];
            const char *host = use_cli ? cli_addrs[a] : lc->address;
            int bound = 0;

            if (lc->unix_path != NULL) {
                l->fd = listen_unix(lc);
                l->unix_path = strdup(lc->unix_path);
                if (l->fd >= 0 && rend_settings.domain_socket == NULL) {
                    rend_settings.domain_socket = l->unix_path; /* stats */
                }
            } else {
                int want = a > 0 ? port
                           : (i == 0 && cli_port >= 0) ? cli_port : lc->port;
                l->fd = listen_tcp(host, want, &bound);
                if (a == 0) {
                    port = bound;
                    rend_listener_port[i] = bound; /* /config, /metrics */
                }
                if (l->fd >= 0 && rend_settings.tcp_port == 0) {
                    rend_settings.tcp_port = bound; /* stats settings */
                    rend_settings.inter = host != NULL ? strdup(host) : NULL;
                }
            }
            if (l->fd < 0) {
                if (pf != NULL) {
                    fclose(pf);
                }
                return -1;
            }
            l->index = i;
            ev_io_init(&l->io, on_accept, l->fd, EV_READ);
            l->io.data = l;
            ev_io_start(loop, &l->io);
            nlisteners++;
            if (lc->unix_path != NULL) {
                rend_log(REND_LOG_INFO, "listening on %s", lc->unix_path);
            } else {
                rend_log(REND_LOG_INFO, "listening on %s:%d",
                         host ? host : "*", bound);
            }
        }
        /* one line per config listener: its (first address's) port */
        if (pf != NULL) {
            if (lc->unix_path != NULL) {
                fprintf(pf, "%s\n", lc->unix_path);
            } else {
                fprintf(pf, "%d\n", port);
            }
        }
    }
    if (pf != NULL) {
        if (admin_port >= 0) {
            fprintf(pf, "admin %d\n", admin_port); /* after the listeners */
        }
        fclose(pf);
        if (rename(tmp, port_file) != 0) {
            rend_log(REND_LOG_ERR, "%s: %s", port_file, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static struct rend_gen *
load_config(const struct rend_gen *prev, char *err, size_t errlen)
{
    if (config_path != NULL) {
        return rend_config_load(config_path, prev, err, errlen);
    }
    if (compat_text != NULL) {
        return rend_config_load_string(compat_text, "(command-line flags)",
                                       prev, err, errlen);
    }
    return rend_config_load(NULL, prev, err, errlen);
}

/* settings{} is read once at start (threads, connection limit, item size
 * are fixed for the process): say so when a reload changes it. */
static void
warn_unapplied_settings(const struct rend_gen *old, const struct rend_gen *g)
{
    static const char *const why = "takes effect at the next restart";

    if (g->threads != old->threads) {
        rend_log(REND_LOG_WARN, "reload: settings.threads changed (%u -> %u): "
                 "%s; running with %u", old->threads, g->threads, why,
                 rend_settings.threads);
    }
    if (g->max_conns != old->max_conns) {
        rend_log(REND_LOG_WARN, "reload: settings.max_connections changed "
                 "(%u -> %u): %s; running with %u", old->max_conns,
                 g->max_conns, why, rend_settings.max_conns);
    }
    if (g->idle_timeout != old->idle_timeout
        || g->read_timeout != old->read_timeout
        || g->conn_buffer_mb != old->conn_buffer_mb) {
        rend_log(REND_LOG_WARN, "reload: settings idle_timeout, read_timeout "
                 "or conn_buffer_mb changed: %s", why);
    }
    if (g->item_size_max != old->item_size_max) {
        rend_log(REND_LOG_WARN, "reload: settings.item_size_max changed "
                 "(%llu -> %llu): %s; running with %u",
                 (unsigned long long)old->item_size_max,
                 (unsigned long long)g->item_size_max, why,
                 rend_settings.item_size_max);
    }
}

/* Tell systemd (Type=notify) where rend is; a no-op elsewhere. */
static void
notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

struct rend_gen *
rend_main_current(void)
{
    return current;
}

static int reload_now(struct rend_buf *out);

/* The reload SIGHUP and POST /reload share: load, check, swap.  0 with
 * what changed in out, or -1 with the reason the config was refused. */
int
rend_reload(struct rend_buf *out)
{
    int rc;

    notify("RELOADING=1");
    rc = reload_now(out);
    notify("READY=1");
    return rc;
}

static int
reload_now(struct rend_buf *out)
{
    char err[1024];
    struct rend_gen *g;

    g = load_config(current, err, sizeof(err));
    if (g == NULL) {
        __atomic_add_fetch(&rend_config_reload_failures, 1, __ATOMIC_RELAXED);
        rend_log(REND_LOG_ERR, "reload failed, keeping the running config: %s",
                 err);
        rend_buf_printf(out, "%s", err);
        return -1;
    }
    if (g->nlisteners != current->nlisteners) {
        __atomic_add_fetch(&rend_config_reload_failures, 1, __ATOMIC_RELAXED);
        rend_log(REND_LOG_ERR, "reload failed, keeping the running config: "
                 "the number of listeners changed (%u -> %u); restart to "
                 "change listeners", current->nlisteners, g->nlisteners);
        rend_buf_printf(out, "%s: the number of listeners changed (%u -> %u); "
                        "restart to change listeners", g->source,
                        current->nlisteners, g->nlisteners);
        rend_gen_put(g);
        return -1;
    }
    if (rend_workers_prepare(g) != 0) {
        __atomic_add_fetch(&rend_config_reload_failures, 1, __ATOMIC_RELAXED);
        rend_buf_printf(out, "%s: cannot prepare the handlers for the "
                        "workers (see the log)", g->source);
        rend_gen_put(g);
        return -1;
    }
    warn_unapplied_settings(current, g);
    rend_admin_diff(out, current, g);
    rend_workers_swap(g);
    rend_gen_put(current);
    current = g;
    __atomic_add_fetch(&rend_config_reloads, 1, __ATOMIC_RELAXED);
    rend_log(REND_LOG_WARN, "config reloaded (generation %llu)",
             (unsigned long long)g->id);
    return 0;
}

static void
on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct rend_buf out = { 0 };

    rend_log(REND_LOG_INFO, "SIGHUP: reloading %s",
             config_path ? config_path : "the config");
    rend_reload(&out);
    rend_buf_free(&out);
}

static void
on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    rend_log(REND_LOG_INFO, "signal %d: shutting down", w->signum);
    notify("STOPPING=1");
    ev_break(loop, EVBREAK_ALL);
}

static void
raise_fd_limit(void)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)rend_settings.max_conns + 256;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        unsigned fit = rl.rlim_cur > 512 ? (unsigned)(rl.rlim_cur - 256) : 256;
        rend_log(REND_LOG_WARN, "open-files limit %llu: connection limit "
                 "lowered from %u to %u", (unsigned long long)rl.rlim_cur,
                 rend_settings.max_conns, fit);
        rend_settings.max_conns = fit;
    }
}

int rend_main(int argc, char **argv);

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
    char err[1024];
    struct ev_loop *loop;
    ev_signal sig_term, sig_int, sig_hup;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    memcpy(longopts, base, sizeof(base));
    nbase += rend_compat_options(longopts + nbase, 63 - nbase);
    memset(&longopts[nbase], 0, sizeof(longopts[0]));

    rend_settings.started = 0;
    unsetenv("REND_CLI_MEMORY_MB"); /* only -m sets it */
    rend_log_init();
    while ((opt = getopt_long_only(argc, argv, "c:m:l:p:t:I:U:FY:dvVh",
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
            rend_plugin_set_dir(optarg);
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

    current = load_config(NULL, err, sizeof(err));
    if (current == NULL) {
        fprintf(stderr, "rend: config error: %s\n", err);
        return 1;
    }
    if (tool_mode) {
        int rc = rend_tool_run(current, tool_name, tool_mode, stdout);
        rend_gen_put(current);
        return rc;
    }
    if (check_only) {
        printf("%s: OK (%u listeners, %u handlers)\n", current->source,
               current->nlisteners, current->nhinsts);
        rend_gen_put(current);
        return 0;
    }
    rend_settings.threads = cli_threads ? cli_threads
                            : current->threads ? current->threads
                            : (unsigned)(ncpu > 0 ? ncpu : 1);
    rend_settings.max_conns = cli_max_conns ? cli_max_conns
                              : current->max_conns ? current->max_conns
                              : DEFAULT_MAX_CONNS;
    if (cli_item_max) {
        rend_settings.item_size_max = (uint32_t)cli_item_max;
    } else if (current->item_size_max >= 1024
               && current->item_size_max <= 1024ULL * 1024 * 1024) {
        rend_settings.item_size_max = (uint32_t)current->item_size_max;
    }
    rend_settings.idle_timeout = current->idle_timeout;
    rend_settings.read_timeout = current->read_timeout
                                 ? current->read_timeout
                                 : REND_READ_TIMEOUT_DEFAULT;
    rend_settings.conn_buffer_max
        = (uint64_t)(current->conn_buffer_mb ? current->conn_buffer_mb
                                             : REND_CONN_BUFFER_MB_DEFAULT)
          << 20;
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);

    loop = ev_default_loop(EVFLAG_AUTO);
    rend_metrics_on = current->admin_port >= 0; /* histograms for /metrics */
    if (rend_admin_start(loop, current, &admin_port) != 0) {
        rend_gen_put(current);
        return 1;
    }
    if (open_listeners(loop, current, port_file) != 0) {
        rend_gen_put(current);
        return 1;
    }
    if (rend_workers_start(rend_settings.threads, current) != 0) {
        return 1;
    }
    ev_signal_init(&sig_term, on_stop, SIGTERM);
    ev_signal_init(&sig_int, on_stop, SIGINT);
    ev_signal_init(&sig_hup, on_hup, SIGHUP);
    ev_signal_start(loop, &sig_term);
    ev_signal_start(loop, &sig_int);
    ev_signal_start(loop, &sig_hup);
    rend_log(REND_LOG_INFO, "rend %s: %u threads, config %s", PACKAGE_VERSION,
             rend_settings.threads, current->source);
    notify("READY=1");

    ev_run(loop, 0);

    for (unsigned i = 0; i < nlisteners; i++) {
        ev_io_stop(loop, &listeners[i].io);
        close(listeners[i].fd);
        if (listeners[i].unix_path != NULL) {
            rend_unix_remove(listeners[i].unix_path);
            free(listeners[i].unix_path);
        }
    }
    rend_admin_stop(loop);
    rend_workers_stop();
    for (unsigned i = 0; i < rend_nworkers; i++) {
        struct rend_worker *w = &rend_workers[i];
        ev_loop_destroy(w->loop);
        while (w->free_reqs != NULL) {
            struct rend_req *r = w->free_reqs;
            w->free_reqs = r->next;
            free(r);
        }
        rend_gen_put(w->gen);
    }
    free(rend_workers);
    rend_gen_put(current);
    free(compat_text);
    rend_plugin_set_dir(NULL);
    for (unsigned i = 0; i < cli_naddrs; i++) {
        free(cli_addrs[i]);
    }
    rend_log(REND_LOG_INFO, "bye");
    return 0;
}
