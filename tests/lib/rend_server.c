/*
 * rend_server.c - child servers and socket helpers for integration tests.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rend_server.h"

#define MAX_ARGS 64

int64_t
rend_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : dflt;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* fork + exec argv with stdout -> /dev/null and stderr -> errlog.  The
 * child gets SIGKILL when the test process dies, so a failed (forked)
 * Check test never leaves a server behind. */
static pid_t
spawn(char *const *argv, const char *errlog)
{
    pid_t parent = getpid();
    pid_t pid = fork();

    if (pid == 0) {
        int null;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        null = open("/dev/null", O_RDWR);
        int err = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        if (err >= 0) {
            dup2(err, 2);
        }
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static int
status_code(int st)
{
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    if (WIFSIGNALED(st)) {
        return 128 + WTERMSIG(st);
    }
    return -1;
}

/* Wait for pid at most timeout_ms; SIGKILL on timeout.  Returns the code
 * as status_code, or -1 after a timeout. */
static int
reap(pid_t pid, int timeout_ms, long *ms)
{
    int64_t t0 = rend_now_ms();
    int st;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (ms != NULL) {
                *ms = (long)(rend_now_ms() - t0);
            }
            return status_code(st);
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (rend_now_ms() - t0 > timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            if (ms != NULL) {
                *ms = (long)(rend_now_ms() - t0);
            }
            return -1;
        }
        sleep_ms(5);
    }
}

static int
make_dir(struct rend_srv *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/rend-it-XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(s->errlog, sizeof(s->errlog), "%s/stderr", s->dir);
    return 0;
}

static void
remove_dir(struct rend_srv *s)
{
    char cmd[128];

    if (s->dir[0] == '\0') {
        return;
    }
    /* the dir holds only files this helper (or the server) made */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "rend_server: could not remove %s\n", s->dir);
    }
    s->dir[0] = '\0';
}

/* Parse the first line of the port file: a number or a socket path. */
static int
read_port_file(struct rend_srv *s, const char *pf)
{
    char line[256];
    FILE *f = fopen(pf, "r");

    if (f == NULL) {
        return -1;
    }
    if (fgets(line, sizeof(line), f) == NULL) {
        fclose(f);
        return -1;
    }
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '/') {
        size_t n = strlen(line);
        if (n >= sizeof(s->path)) {
            return -1;
        }
        memcpy(s->path, line, n + 1);
    } else {
        s->port = atoi(line);
    }
    return s->port > 0 || s->path[0] != '\0' ? 0 : -1;
}

/* Every line of the port file as a port; the count or -1. */
static int
read_ports(const struct rend_srv *s, int *ports, int max)
{
    char pf[128], line[256];
    FILE *f;
    int n = 0;

    snprintf(pf, sizeof(pf), "%s/port", s->dir);
    f = fopen(pf, "r");
    if (f == NULL) {
        return -1;
    }
    while (n < max && fgets(line, sizeof(line), f) != NULL) {
        ports[n++] = atoi(line);
    }
    fclose(f);
    return n;
}

int
rend_srv_ports(const struct rend_srv *s, int *ports, int max, int want,
               int timeout_ms)
{
    int64_t t0 = rend_now_ms();

    do {
        int n = read_ports(s, ports, max);
        if (n >= want && n > 0) {
            sleep_ms(20);
            if (read_ports(s, ports, max) == n) {
                return n;
            }
        } else {
            sleep_ms(5);
        }
    } while (rend_now_ms() - t0 < timeout_ms);
    return -1;
}

int
rend_srv_start(struct rend_srv *s, const char *conf, const char *const *extra)
{
    char *argv[MAX_ARGS];
    char pf[128], pdir[512];
    int n = 0;
    int64_t t0;

    if (make_dir(s) != 0) {
        return -1;
    }
    snprintf(pf, sizeof(pf), "%s/port", s->dir);
    snprintf(pdir, sizeof(pdir), "%s",
             env_or("REND_PLUGIN_DIR", "../plugins/.libs"));
    argv[n++] = (char *)env_or("REND_BIN", "../core/rend");
    argv[n++] = (char *)"--plugin-dir";
    argv[n++] = pdir;
    argv[n++] = (char *)"-p";
    argv[n++] = (char *)"0";
    argv[n++] = (char *)"--port-file";
    argv[n++] = pf;
    if (conf != NULL) {
        argv[n++] = (char *)"--config";
        argv[n++] = (char *)conf;
    }
    for (int i = 0; extra != NULL && extra[i] != NULL && n < MAX_ARGS - 1;
         i++) {
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    s->pid = spawn(argv, s->errlog);
    if (s->pid < 0) {
        perror("fork");
        s->pid = 0;
        remove_dir(s);
        return -1;
    }
    t0 = rend_now_ms();
    while (rend_now_ms() - t0 < 10000) {
        int st;
        if (read_port_file(s, pf) == 0) {
            return 0;
        }
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            char *e = rend_srv_stderr(s);
            fprintf(stderr, "rend exited early (%d): %s\n", status_code(st),
                    e ? e : "");
            free(e);
            s->pid = 0;
            remove_dir(s);
            return -1;
        }
        sleep_ms(5);
    }
    fprintf(stderr, "rend: no port file after 10 s\n");
    rend_srv_stop(s, 2000, NULL);
    return -1;
}

int
rend_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0
        && getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/* The inode of the socket listening on 127.0.0.1:port (/proc/net/tcp), or
 * 0 when there is none. */
static unsigned long
listen_inode(int port)
{
    char line[512], want[16];
    unsigned long inode = 0;
    FILE *f = fopen("/proc/net/tcp", "r");

    if (f == NULL) {
        return 0;
    }
    snprintf(want, sizeof(want), "0100007F:%04X", (unsigned)port);
    while (inode == 0 && fgets(line, sizeof(line), f) != NULL) {
        char local[64], remote[64], state[8];
        unsigned long ino;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, "%*s %63s %63s %7s %*s %*s %*s %*s %*s %lu", local,
                   remote, state, &ino) == 4
            && strcmp(local, want) == 0 && strcmp(state, "0A") == 0) {
            inode = ino;
        }
    }
    fclose(f);
    return inode;
}

/* 1 when process pid holds the socket listening on 127.0.0.1:port, so a
 * test never talks to another test's server that took the port this one
 * picked; also 1 when /proc cannot tell (nothing to check against). */
static int
holds_listener(pid_t pid, int port)
{
    unsigned long inode = listen_inode(port);
    char path[64], link[64], want[64];

    if (inode == 0) {
        return access("/proc/net/tcp", R_OK) != 0;
    }
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    for (int fd = 0; fd < 256; fd++) {
        ssize_t n;
        snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid, fd);
        n = readlink(path, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = '\0';
            if (strcmp(link, want) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* Spawn memcached with argv and wait until it serves: 0 ready, 1 it exited
 * or another process answers on its port (worth a retry on another free
 * port), -1 it did not start. */
static int
spawn_memcached(struct rend_srv *s, char *const *argv)
{
    int64_t t0;
    int st;

    s->pid = spawn(argv, s->errlog);
    if (s->pid < 0) {
        s->pid = 0;
        return -1;
    }
    t0 = rend_now_ms();
    while (rend_now_ms() - t0 < 10000) {
        int fd = rend_srv_connect(s), mine = 0;
        if (fd >= 0) {
            mine = s->path[0] != '\0' || holds_listener(s->pid, s->port);
            close(fd);
            if (mine) {
                return 0;
            }
        }
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0; /* e.g. the port was taken: bind failed */
            return 1;
        }
        if (fd >= 0) {
            kill(s->pid, SIGKILL);
            reap(s->pid, 2000, NULL);
            s->pid = 0;
            return 1;
        }
        sleep_ms(10);
    }
    return -1;
}

/* memcached on a unix socket in s->dir (port < 0) or on 127.0.0.1:port
 * (0: a free one, retried on another when another process takes it; a
 * fixed port is retried on the same port). */
static int
start_memcached(struct rend_srv *s, int port, const char *const *extra)
{
    const char *bin = env_or("MEMCACHED", "/usr/bin/memcached");
    char *argv[MAX_ARGS], portstr[16];
    int n = 0, rc = -1;

    if (access(bin, X_OK) != 0) {
        return -2;
    }
    if (make_dir(s) != 0) {
        return -1;
    }
    argv[n++] = (char *)bin;
    argv[n++] = (char *)"-u";
    argv[n++] = (char *)"root";
    if (port < 0) {
        snprintf(s->path, sizeof(s->path), "%s/mc.sock", s->dir);
        argv[n++] = (char *)"-s";
        argv[n++] = s->path;
    } else {
        argv[n++] = (char *)"-l";
        argv[n++] = (char *)"127.0.0.1";
        argv[n++] = (char *)"-p";
        argv[n++] = portstr;
    }
    argv[n++] = (char *)"-U";
    argv[n++] = (char *)"0";
    for (int i = 0; extra != NULL && extra[i] != NULL && n < MAX_ARGS - 1;
         i++) {
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    for (int attempt = 0; attempt < 16; attempt++) {
        if (port >= 0) {
            s->port = port > 0 ? port : rend_free_port();
            if (s->port <= 0) {
                break;
            }
            snprintf(portstr, sizeof(portstr), "%d", s->port);
        }
        rc = spawn_memcached(s, argv);
        if (rc != 1) {
            break;
        }
        if (port > 0) {
            /* a restart on a fixed port: a connection's ephemeral end may
             * hold the port for a moment (even a reconnecting client's
             * self-connect), so wait and try the same port again */
            sleep_ms(250);
        }
    }
    if (rc == 0) {
        return 0;
    }
    fprintf(stderr, "memcached did not start\n");
    rend_srv_stop(s, 2000, NULL);
    return -1;
}

int
rend_srv_start_memcached(struct rend_srv *s, const char *const *extra)
{
    return start_memcached(s, -1, extra);
}

int
rend_srv_start_memcached_tcp(struct rend_srv *s, int port,
                             const char *const *extra)
{
    return start_memcached(s, port < 0 ? 0 : port, extra);
}

void
rend_srv_kill(struct rend_srv *s, int sig)
{
    if (s->pid > 0) {
        kill(s->pid, sig);
        reap(s->pid, 10000, NULL);
        s->pid = 0;
    }
    remove_dir(s);
}

int
rend_srv_stop(struct rend_srv *s, int timeout_ms, long *ms)
{
    int rc = -1;

    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        rc = reap(s->pid, timeout_ms, ms);
        s->pid = 0;
    }
    remove_dir(s);
    return rc;
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t cap = 4096, len = 0;
    char *buf;

    if (f == NULL) {
        return NULL;
    }
    buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            break;
        }
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[len] = '\0';
    }
    return buf;
}

char *
rend_srv_stderr(const struct rend_srv *s)
{
    return slurp(s->errlog);
}

int
rend_srv_run(const char *const *args, int timeout_ms, char **err)
{
    struct rend_srv s;
    char *argv[MAX_ARGS];
    int n = 0, rc;

    if (make_dir(&s) != 0) {
        return -1;
    }
    argv[n++] = (char *)env_or("REND_BIN", "../core/rend");
    for (int i = 0; args[i] != NULL && n < MAX_ARGS - 1; i++) {
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    s.pid = spawn(argv, s.errlog);
    rc = s.pid > 0 ? reap(s.pid, timeout_ms, NULL) : -1;
    if (err != NULL) {
        *err = slurp(s.errlog);
    }
    s.pid = 0;
    remove_dir(&s);
    return rc;
}

int
rend_srv_connect(const struct rend_srv *s)
{
    int fd, one = 1;

    if (s->path[0] != '\0') {
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
            close(fd);
            fd = -1;
        }
        return fd;
    }
    {
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)s->port);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

/* poll fd for ev until the deadline; 1 ready, 0 timeout. */
static int
wait_fd(int fd, short ev, int64_t deadline)
{
    for (;;) {
        struct pollfd p = { fd, ev, 0 };
        int64_t left = deadline - rend_now_ms();
        int r;
        if (left < 0) {
            left = 0;
        }
        r = poll(&p, 1, (int)left);
        if (r > 0) {
            return 1;
        }
        if (r == 0 || errno != EINTR) {
            return 0;
        }
    }
}

int
rend_io_send(int fd, const void *buf, size_t n, int timeout_ms)
{
    const char *p = buf;
    int64_t deadline = rend_now_ms() + timeout_ms;

    while (n > 0) {
        ssize_t w;
        if (!wait_fd(fd, POLLOUT, deadline)) {
            return -1;
        }
        w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int
rend_io_send_str(int fd, const char *s, int timeout_ms)
{
    return rend_io_send(fd, s, strlen(s), timeout_ms);
}

size_t
rend_io_read_n(int fd, void *buf, size_t n, int timeout_ms)
{
    char *p = buf;
    size_t got = 0;
    int64_t deadline = rend_now_ms() + timeout_ms;

    while (got < n) {
        ssize_t r;
        if (!wait_fd(fd, POLLIN, deadline)) {
            break;
        }
        r = recv(fd, p + got, n - got, MSG_DONTWAIT);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            break;
        }
        got += (size_t)r;
    }
    return got;
}

int
rend_io_read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    int64_t deadline = rend_now_ms() + timeout_ms;

    while (len + 1 < cap) {
        ssize_t r;
        if (!wait_fd(fd, POLLIN, deadline)) {
            break;
        }
        r = recv(fd, buf + len, 1, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        if (buf[len++] == '\n') {
            buf[len] = '\0';
            return (int)len;
        }
    }
    buf[len] = '\0';
    return -1;
}

long
rend_io_read_some(int fd, void *buf, size_t cap, int timeout_ms)
{
    int64_t deadline = rend_now_ms() + timeout_ms;

    for (;;) {
        ssize_t r;
        if (!wait_fd(fd, POLLIN, deadline)) {
            return 0;
        }
        r = recv(fd, buf, cap, MSG_DONTWAIT);
        if (r > 0) {
            return (long)r;
        }
        if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
            return -1;
        }
    }
}

size_t
rend_io_read_quiet(int fd, char *buf, size_t cap, int quiet_ms, int *closed)
{
    size_t got = 0;

    if (closed != NULL) {
        *closed = 0;
    }
    while (got < cap) {
        ssize_t r;
        if (!wait_fd(fd, POLLIN, rend_now_ms() + quiet_ms)) {
            break;
        }
        r = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (r <= 0) {
            if (closed != NULL) {
                *closed = 1;
            }
            break;
        }
        got += (size_t)r;
    }
    return got;
}

int
rend_io_closed(int fd, int timeout_ms)
{
    char b;
    ssize_t r;

    if (!wait_fd(fd, POLLIN, rend_now_ms() + timeout_ms)) {
        return 0;
    }
    r = recv(fd, &b, 1, MSG_DONTWAIT);
    if (r > 0) {
        return -1;
    }
    if (r < 0 && errno == EAGAIN) {
        return 0;
    }
    return 1;
}

long
rend_pid_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}
