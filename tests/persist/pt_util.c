/*
 * pt_util.c - see pt_util.h.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pt_util.h"


static const char *
env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : dflt;
}

int
pt_have_plugin(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/rend_%s.so",
             env_or("REND_PLUGIN_DIR", "../plugins/.libs"), name);
    return access(path, R_OK) == 0;
}

int
pt_inst_init(struct pt_inst *i, const char *conf_name)
{
    const char *src = env_or("REND_SRCDIR", "..");

    memset(i, 0, sizeof(*i));
    snprintf(i->conf, sizeof(i->conf), "%s/tests/persist/conf/%s", src,
             conf_name);
    if (access(i->conf, R_OK) != 0) {
        fprintf(stderr, "persist: no config %s\n", i->conf);
        return -1;
    }
    snprintf(i->data, sizeof(i->data), "/tmp/rend-persist-XXXXXX");
    if (mkdtemp(i->data) == NULL) {
        perror("mkdtemp");
        i->data[0] = '\0';
        return -1;
    }
    return 0;
}

int
pt_inst_start(struct pt_inst *i)
{
    static const char *const extra[] = { "-t", "2", NULL };
    int ports[2];

    setenv("REND_DATA", i->data, 1);
    if (rend_srv_start(&i->srv, i->conf, extra) != 0) {
        return -1;
    }
    /* the port file lists one port per listener: the second one is the
     * batch listener */
    if (rend_srv_ports(&i->srv, ports, 2, 2, 10000) != 2
        || ports[1] == i->srv.port || ports[1] <= 0) {
        fprintf(stderr, "persist: no batch port in the port file\n");
        rend_srv_stop(&i->srv, 5000, NULL);
        return -1;
    }
    i->batch_port = ports[1];
    return 0;
}

int
pt_inst_stop(struct pt_inst *i)
{
    return rend_srv_stop(&i->srv, 20000, NULL);
}

void
pt_inst_kill9(struct pt_inst *i)
{
    if (i->srv.pid > 0) {
        kill(i->srv.pid, SIGKILL);
        waitpid(i->srv.pid, NULL, 0);
        i->srv.pid = 0;
    }
    rend_srv_stop(&i->srv, 1000, NULL);
}

void
pt_inst_cleanup(struct pt_inst *i)
{
    char cmd[128];

    if (i->srv.pid > 0) {
        rend_srv_stop(&i->srv, 20000, NULL);
    }
    if (i->data[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", i->data);
        if (system(cmd) != 0) {
            fprintf(stderr, "persist: could not remove %s\n", i->data);
        }
        i->data[0] = '\0';
    }
}

int
pt_inst_verify(struct pt_inst *i, char **err)
{
    const char *args[] = { "--verify", "l2", "--config", i->conf, NULL };

    setenv("REND_DATA", i->data, 1);
    return rend_srv_run(args, 120000, err);
}

int
pt_conn_open(struct rend_cli *c, const struct pt_inst *i, int batch)
{
    struct rend_srv s = i->srv;

    if (batch) {
        s.port = i->batch_port;
    }
    return rend_cli_open(c, &s);
}

int
pt_key(char *out, size_t cap, uint32_t n)
{
    return snprintf(out, cap, "pt:%u", n);
}

static uint32_t
mix(uint32_t a, uint32_t b)
{
    uint32_t h = a * 2654435761u ^ (b + 0x9e3779b9u + (a << 6) + (a >> 2));

    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return h;
}

uint32_t
pt_flags(uint32_t n, uint32_t version)
{
    return mix(n, version ^ 0x5a5a5a5au);
}

size_t
pt_value(char *out, size_t max_len, uint32_t n, uint32_t version)
{
    uint32_t h = mix(n, version);
    size_t len = 1 + h % max_len;

    /* every byte depends on (n, version, position): a torn or misplaced
     * value cannot pass for another one */
    for (size_t j = 0; j < len; j++) {
        out[j] = (char)(mix(h, (uint32_t)j) & 0xff);
    }
    return len;
}

int64_t
pt_unix_now(void)
{
    return (int64_t)time(NULL);
}

void
pt_sleep_until(int64_t t_ms)
{
    int64_t left;

    while ((left = t_ms - rend_now_ms()) > 0) {
        usleep((useconds_t)(left > 100 ? 100000 : left * 1000));
    }
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double
pt_quantile(double *v, size_t n, double q)
{
    size_t k;

    if (n == 0) {
        return 0;
    }
    qsort(v, n, sizeof(*v), cmp_double);
    k = (size_t)(q * (double)(n - 1) + 0.5);
    return v[k < n ? k : n - 1];
}
