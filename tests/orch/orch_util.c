/*
 * orch_util.c - see orch_util.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "orch_util.h"

static const char *
env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : dflt;
}

int64_t
orch_unix_now(void)
{
    return (int64_t)time(NULL);
}

const char *
orch_res_name(int res)
{
    static const char *names[] = {
        "OK", "MISS", "NOT_STORED", "EXISTS", "NOT_FOUND", "NON_NUMERIC",
        "SERVER_ERROR", "BAD",
    };

    return res >= 0 && res <= ORCH_BAD ? names[res] : "?";
}

const char *
orch_conf_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/tests/orch/conf/%s", env_or("REND_SRCDIR", ".."),
             name);
    return buf;
}

/* ---- cleanup after failed tests ----------------------------------- */

/* Check ends a failed test's process with _exit(), skipping teardowns, so
 * every temp dir lives under one base dir that orch_run removes, and the
 * rend_server dirs (made elsewhere) are listed in BASE/srv-dirs. */
void
orch_guard_srv(const struct rend_srv *s)
{
    const char *base = getenv("ORCH_BASE");
    char list[128];
    FILE *f;

    if (base == NULL || s->dir[0] == '\0') {
        return;
    }
    snprintf(list, sizeof(list), "%s/srv-dirs", base);
    f = fopen(list, "a");
    if (f != NULL) {
        fprintf(f, "%s\n", s->dir);
        fclose(f);
    }
}

static void
rm_rf(const char *dir)
{
    char cmd[320];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "orch: could not remove %s\n", dir);
    }
}

int
orch_run(Suite *s)
{
    char base[64] = "/tmp/rend-orch-XXXXXX", list[128], line[256];
    SRunner *sr = srunner_create(s);
    int failed;
    FILE *f;

    if (mkdtemp(base) == NULL) {
        perror("mkdtemp");
        srunner_free(sr);
        return 1;
    }
    setenv("ORCH_BASE", base, 1);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    snprintf(list, sizeof(list), "%s/srv-dirs", base);
    f = fopen(list, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "/tmp/rend-", 10) == 0 && access(line, F_OK) == 0) {
            rm_rf(line);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    rm_rf(base);
    return failed;
}

/* ---- server ------------------------------------------------------- */

static int
make_dir(struct orch *o)
{
    char so[512];

    memset(o, 0, sizeof(*o));
    snprintf(o->dir, sizeof(o->dir), "%s/t-XXXXXX",
             env_or("ORCH_BASE", "/tmp"));
    if (mkdtemp(o->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    snprintf(o->conf, sizeof(o->conf), "%s/conf.lua", o->dir);
    snprintf(so, sizeof(so), "%s/rend_fault.so",
             env_or("REND_TEST_PLUGIN_DIR", "plugins/.libs"));
    if (so[0] != '/') {
        char cwd[256], abs[800];
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            return -1;
        }
        snprintf(abs, sizeof(abs), "%s/%s", cwd, so);
        setenv("ORCH_FAULT_SO", abs, 1);
    } else {
        setenv("ORCH_FAULT_SO", so, 1);
    }
    setenv("ORCH_DIR", o->dir, 1);
    return 0;
}

static void
remove_dir(struct orch *o)
{
    if (o->dir[0] == '\0') {
        return;
    }
    rm_rf(o->dir);
    o->dir[0] = '\0';
}

static int
start(struct orch *o, const char *conf, const char *const *extra)
{
    const char *args[32];
    int n = 0;

    args[n++] = "-t";
    args[n++] = env_or("ORCH_THREADS", "2");
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 31; i++) {
        args[n++] = extra[i];
    }
    args[n] = NULL;
    if (rend_srv_start(&o->srv, conf, args) != 0) {
        return -1;
    }
    orch_guard_srv(&o->srv);
    /* one line per listener, written as each comes up */
    o->nports = rend_srv_ports(&o->srv, o->ports, ORCH_MAX_PORTS, 1, 3000);
    if (o->nports > 0) {
        return 0;
    }
    o->nports = 0;
    fprintf(stderr, "orch: cannot read the port file\n");
    rend_srv_stop(&o->srv, 2000, NULL);
    return -1;
}

int
orch_start_file(struct orch *o, const char *conf, const char *const *extra)
{
    if (make_dir(o) != 0) {
        return -1;
    }
    if (conf != NULL && orch_copy_conf(o, conf) != 0) {
        remove_dir(o);
        return -1;
    }
    if (start(o, conf != NULL ? o->conf : NULL, extra) != 0) {
        remove_dir(o);
        return -1;
    }
    return 0;
}

int
orch_start_text(struct orch *o, const char *text)
{
    if (make_dir(o) != 0) {
        return -1;
    }
    if (orch_write_conf(o, text) != 0 || start(o, o->conf, NULL) != 0) {
        remove_dir(o);
        return -1;
    }
    return 0;
}

int
orch_write_conf(const struct orch *o, const char *text)
{
    char tmp[160];
    FILE *f;
    int rc;

    snprintf(tmp, sizeof(tmp), "%s.new", o->conf);
    f = fopen(tmp, "w");
    if (f == NULL) {
        perror(tmp);
        return -1;
    }
    rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0) {
        rc = -1;
    }
    return rc == 0 ? rename(tmp, o->conf) : -1;
}

int
orch_copy_conf(const struct orch *o, const char *path)
{
    char buf[16384];
    size_t n;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        perror(path);
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return orch_write_conf(o, buf);
}

int
orch_stop(struct orch *o, int keep_dir)
{
    int rc;

    if (getenv("ORCH_SHOW_LOG") != NULL) {
        char *log = rend_srv_stderr(&o->srv);
        fprintf(stderr, "---- rend stderr ----\n%s----\n", log ? log : "");
        free(log);
    }
    rc = rend_srv_stop(&o->srv, 5000, NULL);

    if (!keep_dir) {
        remove_dir(o);
    }
    return rc;
}

/* ---- connections -------------------------------------------------- */

int
orch_connect(const struct orch *o, int idx, int bin, struct orch_conn *c)
{
    struct rend_srv s;

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    if (idx < 0 || idx >= o->nports) {
        return -1;
    }
    memset(&s, 0, sizeof(s));
    s.port = o->ports[idx];
    c->fd = rend_srv_connect(&s);
    c->bin = bin;
    return c->fd >= 0 ? 0 : -1;
}

void
orch_close(struct orch_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
}

/* ---- text protocol ------------------------------------------------ */

static int
text_line(struct orch_conn *c)
{
    int n = rend_io_read_line(c->fd, c->last, sizeof(c->last), ORCH_IO_MS);

    if (n < 2 || c->last[n - 2] != '\r') {
        return -1;
    }
    c->last[n - 2] = '\0';
    return 0;
}

/* Map a one-line text reply. */
static int
text_outcome(const char *l)
{
    static const struct {
        const char *text;
        int res;
    } map[] = {
        { "STORED", ORCH_OK }, { "DELETED", ORCH_OK },
        { "TOUCHED", ORCH_OK }, { "OK", ORCH_OK },
        { "NOT_STORED", ORCH_NOT_STORED }, { "EXISTS", ORCH_EXISTS },
        { "NOT_FOUND", ORCH_NOT_FOUND },
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(l, map[i].text) == 0) {
            return map[i].res;
        }
    }
    if (strncmp(l, "SERVER_ERROR", 12) == 0) {
        return ORCH_SERVER_ERROR;
    }
    if (strncmp(l, "CLIENT_ERROR cannot increment or decrement non-numeric",
                54) == 0) {
        return ORCH_NON_NUMERIC;
    }
    return ORCH_BAD;
}

static int
text_simple(struct orch_conn *c, const char *req, size_t n)
{
    if (rend_io_send(c->fd, req, n, ORCH_IO_MS) != 0 || text_line(c) != 0) {
        return ORCH_BAD;
    }
    return text_outcome(c->last);
}

static int
text_store(struct orch_conn *c, const char *cmd, const char *key,
           const char *value, uint32_t flags, int64_t exptime, uint64_t cas)
{
    char req[1024];
    int n;

    if (strcmp(cmd, "cas") == 0) {
        n = snprintf(req, sizeof(req), "cas %s %u %lld %zu %llu\r\n%s\r\n",
                     key, flags, (long long)exptime, strlen(value),
                     (unsigned long long)cas, value);
    } else {
        n = snprintf(req, sizeof(req), "%s %s %u %lld %zu\r\n%s\r\n", cmd,
                     key, flags, (long long)exptime, strlen(value), value);
    }
    if (n < 0 || (size_t)n >= sizeof(req)) {
        snprintf(c->last, sizeof(c->last), "request too long for the "
                 "test client");
        return ORCH_BAD;
    }
    return text_simple(c, req, (size_t)n);
}

static int
text_get(struct orch_conn *c, const char *cmd, const char *key,
         int64_t exptime, struct orch_item *it)
{
    char req[512], k[256];
    unsigned long long cas = 0;
    unsigned flags = 0, len = 0;
    int n, fields;

    if (strncmp(cmd, "gat", 3) == 0) {
        n = snprintf(req, sizeof(req), "%s %lld %s\r\n", cmd,
                     (long long)exptime, key);
    } else {
        n = snprintf(req, sizeof(req), "%s %s\r\n", cmd, key);
    }
    if (rend_io_send(c->fd, req, (size_t)n, ORCH_IO_MS) != 0
        || text_line(c) != 0) {
        return ORCH_BAD;
    }
    if (strcmp(c->last, "END") == 0) {
        return ORCH_MISS;
    }
    if (strncmp(c->last, "VALUE ", 6) != 0) {
        return text_outcome(c->last);
    }
    fields = sscanf(c->last + 6, "%255s %u %u %llu", k, &flags, &len, &cas);
    if (fields < 3 || strcmp(k, key) != 0 || len + 2 > sizeof(it->value)) {
        return ORCH_BAD;
    }
    if (rend_io_read_n(c->fd, it->value, len + 2, ORCH_IO_MS) != len + 2
        || memcmp(it->value + len, "\r\n", 2) != 0) {
        return ORCH_BAD;
    }
    it->value[len] = '\0';
    it->nvalue = len;
    it->flags = flags;
    it->cas = cas;
    if (text_line(c) != 0 || strcmp(c->last, "END") != 0) {
        return ORCH_BAD;
    }
    return ORCH_OK;
}

/* ---- binary protocol ---------------------------------------------- */

struct bin_reply {
    int status;
    uint8_t opcode, extlen;
    uint64_t cas;
    unsigned char body[1024];
    uint32_t nbody;
};

/* Send one request and read its reply; -1 on I/O or framing trouble. */
static int
bin_call(struct orch_conn *c, uint8_t opcode, const void *ext, uint8_t extlen,
         const char *key, const char *value, uint64_t cas,
         struct bin_reply *r)
{
    unsigned char req[2048], hdr[24];
    size_t nkey = key ? strlen(key) : 0, nval = value ? strlen(value) : 0;
    size_t total = extlen + nkey + nval;
    uint32_t opaque = ++c->opaque;
    size_t got;

    if (24 + total > sizeof(req)) {
        return -1;
    }
    rend_bin_pack(req, opcode, ext, extlen, key, value, (uint32_t)nval,
                  opaque);
    rend_put64(req + 16, cas);
    if (rend_io_send(c->fd, req, 24 + total, ORCH_IO_MS) != 0) {
        snprintf(c->last, sizeof(c->last), "(send failed)");
        return -1;
    }
    got = rend_io_read_n(c->fd, hdr, 24, ORCH_IO_MS);
    if (got != 24 || hdr[0] != 0x81 || rend_get32(hdr + 12) != opaque) {
        snprintf(c->last, sizeof(c->last), "(bad reply header: %zu bytes, "
                 "magic 0x%02x, opaque %u for %u)", got, got ? hdr[0] : 0,
                 got == 24 ? rend_get32(hdr + 12) : 0, opaque);
        return -1;
    }
    r->opcode = hdr[1];
    r->extlen = hdr[4];
    r->status = hdr[6] << 8 | hdr[7];
    r->nbody = rend_get32(hdr + 8);
    r->cas = rend_get64(hdr + 16);
    c->last_cas = r->cas;
    if (r->nbody >= sizeof(r->body)
        || rend_io_read_n(c->fd, r->body, r->nbody, ORCH_IO_MS) != r->nbody) {
        return -1;
    }
    r->body[r->nbody] = '\0';
    if (r->status != 0) {
        snprintf(c->last, sizeof(c->last), "status 0x%02x %.200s", r->status,
                 r->body);
    } else {
        snprintf(c->last, sizeof(c->last), "status 0");
    }
    return r->opcode == opcode ? 0 : -1;
}

static int
bin_outcome(int status)
{
    switch (status) {
    case 0x00: return ORCH_OK;
    case 0x01: return ORCH_NOT_FOUND;
    case 0x02: return ORCH_EXISTS;
    case 0x05: return ORCH_NOT_STORED;
    case 0x06: return ORCH_NON_NUMERIC;
    default: return status >= 0x80 ? ORCH_SERVER_ERROR : ORCH_BAD;
    }
}

static int
bin_store(struct orch_conn *c, const char *cmd, const char *key,
          const char *value, uint32_t flags, int64_t exptime, uint64_t cas)
{
    struct bin_reply r;
    unsigned char ext[8];
    uint8_t op;
    int res;

    rend_put32(ext, flags);
    rend_put32(ext + 4, (uint32_t)exptime);
    if (strcmp(cmd, "append") == 0 || strcmp(cmd, "prepend") == 0) {
        op = cmd[0] == 'a' ? 0x0e : 0x0f;
        if (bin_call(c, op, NULL, 0, key, value, 0, &r) != 0) {
            return ORCH_BAD;
        }
        return bin_outcome(r.status);
    }
    if (strcmp(cmd, "add") == 0) {
        op = 0x02;
    } else if (strcmp(cmd, "replace") == 0) {
        op = 0x03;
    } else {
        op = 0x01; /* set, and cas = set with a cas */
    }
    if (bin_call(c, op, ext, 8, key, value, cas, &r) != 0) {
        return ORCH_BAD;
    }
    res = bin_outcome(r.status);
    /* memcached's wire statuses for add/replace refusals */
    if (op == 0x02 && res == ORCH_EXISTS) {
        return ORCH_NOT_STORED;
    }
    if (op == 0x03 && res == ORCH_NOT_FOUND) {
        return ORCH_NOT_STORED;
    }
    if ((op == 0x02 || op == 0x03) && res == ORCH_NOT_STORED) {
        return ORCH_BAD; /* memcached never says 0x05 here */
    }
    return res;
}

static int
bin_get(struct orch_conn *c, const char *cmd, const char *key,
        int64_t exptime, struct orch_item *it)
{
    struct bin_reply r;
    unsigned char ext[4];
    int gete = strcmp(cmd, "gete") == 0;
    int rc;

    if (strcmp(cmd, "gat") == 0) {
        rend_put32(ext, (uint32_t)exptime);
        rc = bin_call(c, 0x1d, ext, 4, key, NULL, 0, &r);
    } else {
        rc = bin_call(c, gete ? 0x40 : 0x00, NULL, 0, key, NULL, 0, &r);
    }
    if (rc != 0) {
        return ORCH_BAD;
    }
    if (r.status == 0x01) {
        return ORCH_MISS;
    }
    if (r.status != 0) {
        return bin_outcome(r.status);
    }
    if (r.extlen != (gete ? 8 : 4) || r.nbody < r.extlen) {
        return ORCH_BAD;
    }
    it->flags = rend_get32(r.body);
    it->exptime = gete ? (int64_t)rend_get32(r.body + 4) : 0;
    it->nvalue = r.nbody - r.extlen;
    if (it->nvalue >= sizeof(it->value)) {
        return ORCH_BAD;
    }
    memcpy(it->value, r.body + r.extlen, it->nvalue);
    it->value[it->nvalue] = '\0';
    it->cas = r.cas;
    return ORCH_OK;
}

static int
bin_arith(struct orch_conn *c, const char *cmd, const char *key,
          uint64_t delta, uint64_t initial, uint32_t expiry, uint64_t *out)
{
    struct bin_reply r;
    unsigned char ext[20];

    rend_put64(ext, delta);
    rend_put64(ext + 8, initial);
    rend_put32(ext + 16, expiry);
    if (bin_call(c, cmd[0] == 'i' ? 0x05 : 0x06, ext, 20, key, NULL, 0, &r)
        != 0) {
        return ORCH_BAD;
    }
    if (r.status == 0) {
        if (r.nbody != 8) {
            return ORCH_BAD;
        }
        *out = rend_get64(r.body);
    }
    return bin_outcome(r.status);
}

int
orch_bin_cas(struct orch_conn *c, const char *cmd, const char *key,
             const char *value, uint64_t cas)
{
    struct bin_reply r;
    unsigned char ext[20];
    uint8_t op, extlen = 0;

    if (!c->bin) {
        return ORCH_BAD;
    }
    memset(ext, 0, sizeof(ext));
    if (strcmp(cmd, "set") == 0) {
        op = 0x01;
        extlen = 8;
    } else if (strcmp(cmd, "append") == 0) {
        op = 0x0e;
    } else if (strcmp(cmd, "prepend") == 0) {
        op = 0x0f;
    } else if (strcmp(cmd, "delete") == 0) {
        op = 0x04;
        value = NULL;
    } else if (strcmp(cmd, "incr") == 0 || strcmp(cmd, "decr") == 0) {
        op = cmd[0] == 'i' ? 0x05 : 0x06;
        rend_put64(ext, 1);
        rend_put32(ext + 16, 0xffffffffu);
        extlen = 20;
        value = NULL;
    } else {
        return ORCH_BAD;
    }
    if (bin_call(c, op, extlen ? ext : NULL, extlen, key, value, cas, &r)
        != 0) {
        return ORCH_BAD;
    }
    return bin_outcome(r.status);
}

/* ---- the normalised API ------------------------------------------- */

int
orch_store(struct orch_conn *c, const char *cmd, const char *key,
           const char *value, uint32_t flags, int64_t exptime, uint64_t cas)
{
    return c->bin ? bin_store(c, cmd, key, value, flags, exptime, cas)
                  : text_store(c, cmd, key, value, flags, exptime, cas);
}

int
orch_get(struct orch_conn *c, const char *cmd, const char *key,
         int64_t exptime, struct orch_item *it)
{
    struct orch_item scratch;

    if (it == NULL) {
        it = &scratch;
    }
    memset(it, 0, sizeof(*it));
    if (c->bin) {
        if (strcmp(cmd, "gets") == 0) {
            cmd = "get"; /* binary replies always carry the cas */
        }
        return bin_get(c, cmd, key, exptime, it);
    }
    return text_get(c, cmd, key, exptime, it);
}

int
orch_delete(struct orch_conn *c, const char *key)
{
    char req[300];
    int n;

    if (c->bin) {
        struct bin_reply r;
        if (bin_call(c, 0x04, NULL, 0, key, NULL, 0, &r) != 0) {
            return ORCH_BAD;
        }
        return bin_outcome(r.status);
    }
    n = snprintf(req, sizeof(req), "delete %s\r\n", key);
    return text_simple(c, req, (size_t)n);
}

int
orch_touch(struct orch_conn *c, const char *key, int64_t exptime)
{
    char req[300];
    int n;

    if (c->bin) {
        struct bin_reply r;
        unsigned char ext[4];
        rend_put32(ext, (uint32_t)exptime);
        if (bin_call(c, 0x1c, ext, 4, key, NULL, 0, &r) != 0) {
            return ORCH_BAD;
        }
        return bin_outcome(r.status);
    }
    n = snprintf(req, sizeof(req), "touch %s %lld\r\n", key,
                 (long long)exptime);
    return text_simple(c, req, (size_t)n);
}

int
orch_arith(struct orch_conn *c, const char *cmd, const char *key,
           uint64_t delta, uint64_t *out)
{
    char req[300];
    char *end;
    int n;

    if (c->bin) {
        return bin_arith(c, cmd, key, delta, 0, 0xffffffffu, out);
    }
    n = snprintf(req, sizeof(req), "%s %s %llu\r\n", cmd, key,
                 (unsigned long long)delta);
    if (rend_io_send(c->fd, req, (size_t)n, ORCH_IO_MS) != 0
        || text_line(c) != 0) {
        return ORCH_BAD;
    }
    if (c->last[0] >= '0' && c->last[0] <= '9') {
        *out = strtoull(c->last, &end, 10);
        return *end == '\0' ? ORCH_OK : ORCH_BAD;
    }
    return text_outcome(c->last);
}

int
orch_arith_init(struct orch_conn *c, const char *cmd, const char *key,
                uint64_t delta, uint64_t initial, uint64_t *out)
{
    if (!c->bin) {
        return ORCH_BAD;
    }
    return bin_arith(c, cmd, key, delta, initial, 0, out);
}

int
orch_flush(struct orch_conn *c)
{
    if (c->bin) {
        struct bin_reply r;
        if (bin_call(c, 0x08, NULL, 0, NULL, NULL, 0, &r) != 0) {
            return ORCH_BAD;
        }
        return bin_outcome(r.status);
    }
    return text_simple(c, "flush_all\r\n", 11);
}

int
orch_peek(const struct orch *o, int idx, const char *key, const char *value)
{
    struct orch_conn c;
    struct orch_item it;
    int res, ret;

    if (orch_connect(o, idx, 0, &c) != 0) {
        return -1;
    }
    res = orch_get(&c, "get", key, 0, &it);
    orch_close(&c);
    if (res == ORCH_MISS) {
        ret = 0;
    } else if (res == ORCH_OK && value != NULL && strcmp(it.value, value) == 0) {
        ret = 1;
    } else {
        ret = -1;
    }
    return ret;
}

int64_t
orch_stat(const struct orch *o, const char *group, const char *name)
{
    struct rend_cli c;
    char cmd[128];
    int64_t v;

    if (o->nports < 1 || rend_cli_open_port(&c, o->ports[0]) != 0) {
        return -1;
    }
    snprintf(cmd, sizeof(cmd), "stats%s%s", group ? " " : "",
             group ? group : "");
    v = rend_cli_stat(&c, cmd, name, ORCH_IO_MS);
    rend_cli_close(&c);
    return v;
}
