/*
 * rend_cmd.c - the command table (rows in rend_cmd.h) and the lookups
 * derived from it.
 */
#include "config.h"

#include <string.h>

#include "rend_cmd.h"

const struct rend_cmd_info rend_cmd_table[REND_CMD__COUNT] = {
#define REND_CMD_ROW(e, ...) [REND_CMD_##e] = { __VA_ARGS__ },
    REND_CMD_MAP(REND_CMD_ROW)
#undef REND_CMD_ROW
};

struct rend_bin_op rend_cmd_by_opcode[256];

/* Built before main (and before any test uses the parsers). */
__attribute__((constructor)) static void
build_opcode_map(void)
{
    for (int cmd = 0; cmd < REND_CMD__COUNT; cmd++) {
        for (int v = 0; v < 4; v++) {
            uint16_t b = rend_cmd_table[cmd].bin[v];
            if (b != 0) {
                struct rend_bin_op *o = &rend_cmd_by_opcode[b & 0xff];
                o->valid = 1;
                o->cmd = (uint8_t)cmd;
                o->quiet = (uint8_t)(v & 1);
                o->echo_key = (uint8_t)(v >> 1);
            }
        }
    }
}

int
rend_cmd_by_text(const char *tok, size_t n)
{
    for (int cmd = 0; cmd < REND_CMD__COUNT; cmd++) {
        const struct rend_cmd_info *ci = &rend_cmd_table[cmd];
        if (ci->ntext == n && ci->text[0] == tok[0]
            && memcmp(ci->text, tok, n) == 0) {
            return cmd;
        }
    }
    return -1;
}

static const char *const class_names[REND_TX__COUNT] = {
    [REND_TX_NONE] = "-", [REND_TX_RETRIEVAL] = "retrieval",
    [REND_TX_STORAGE] = "storage", [REND_TX_DELETE] = "delete",
    [REND_TX_ARITH] = "arithmetic", [REND_TX_TOUCH] = "touch",
    [REND_TX_FLUSH] = "flush", [REND_TX_VERSION] = "version",
    [REND_TX_NOOP] = "noop", [REND_TX_QUIT] = "quit",
    [REND_TX_VERBOSITY] = "verbosity", [REND_TX_STATS] = "stats",
    [REND_TX_MG] = "meta get", [REND_TX_MS] = "meta set",
    [REND_TX_MD] = "meta delete", [REND_TX_MA] = "meta arithmetic",
    [REND_TX_MN] = "meta noop", [REND_TX_ME] = "meta debug",
};

static const char *const op_names[REND_OP__COUNT] = {
    [REND_OP_GET] = "get", [REND_OP_GAT] = "gat", [REND_OP_TOUCH] = "touch",
    [REND_OP_SET] = "set", [REND_OP_ADD] = "add",
    [REND_OP_REPLACE] = "replace", [REND_OP_APPEND] = "append",
    [REND_OP_PREPEND] = "prepend", [REND_OP_CAS] = "cas",
    [REND_OP_DELETE] = "delete", [REND_OP_INCR] = "incr",
    [REND_OP_DECR] = "decr", [REND_OP_FLUSH] = "flush",
    [REND_OP_FILL] = "fill", [REND_OP_GET_TEXT] = "get_text",
};

void
rend_cmd_print(FILE *f)
{
    fprintf(f, "Route keys:");
    for (int cmd = 0; cmd < REND_CMD__COUNT; cmd++) {
        const struct rend_cmd_info *ci = &rend_cmd_table[cmd];
        const char *keys[2] = { ci->route, ci->alias };
        for (int k = 0; k < 2; k++) {
            int seen = 0;
            if (keys[k] == NULL) {
                continue;
            }
            for (int p = 0; p < cmd && !seen; p++) {
                seen = (rend_cmd_table[p].route != NULL
                        && strcmp(rend_cmd_table[p].route, keys[k]) == 0)
                       || (rend_cmd_table[p].alias != NULL
                           && strcmp(rend_cmd_table[p].alias, keys[k]) == 0);
            }
            if (!seen) {
                fprintf(f, " %s", keys[k]);
            }
        }
    }
    fprintf(f, " default\n\n");
    fprintf(f, "| command | text | text class | binary opcodes "
               "(plain quiet key keyquiet) | route key | handler op | "
               "scheduling |\n|---|---|---|---|---|---|---|\n");
    for (int cmd = 0; cmd < REND_CMD__COUNT; cmd++) {
        const struct rend_cmd_info *ci = &rend_cmd_table[cmd];
        unsigned fl = ci->flags;
        int any = 0;

        if (cmd == REND_CMD_REPLY) {
            continue;
        }
        fprintf(f, "| %s | %s | %s | ", ci->name, ci->text ? ci->text : "-",
                class_names[ci->tx]);
        for (int v = 0; v < 4; v++) {
            if (ci->bin[v] != 0) {
                fprintf(f, "%s0x%02x", any ? " " : "", ci->bin[v] & 0xff);
                any = 1;
            } else if (any) {
                fprintf(f, " -");
            }
        }
        if (ci->runs_as != NULL) {
            fprintf(f, "%s | as %s | as %s | as %s |\n", any ? "" : "-",
                    ci->runs_as, ci->runs_as, ci->runs_as);
            continue;
        }
        fprintf(f, "%s | %s%s%s | %s | %s |\n", any ? "" : "-",
                ci->route ? ci->route : "-", ci->alias ? ", " : "",
                ci->alias ? ci->alias : "",
                ci->op >= 0 ? rend_op_name(ci->op) : "(core)",
                fl & REND_CMD_BARRIER ? "barrier"
                : fl & REND_CMD_READ ? "read" : "write");
    }
}

const char *
rend_op_name(int op)
{
    return op >= 0 && op < REND_OP__COUNT && op_names[op] != NULL
           ? op_names[op] : "?";
}
