/*
 * rend_tool.h - offline store tools: dump, count or verify the items of a
 * handler instance of the config (typically an L2) by walking it.  Run
 * them with rend stopped (rocksdb allows one process per store).
 */
#ifndef REND_TOOL_H
#define REND_TOOL_H

#include <stdio.h>

struct rend_gen;

enum rend_tool_mode { REND_TOOL_DUMP = 1, REND_TOOL_COUNT, REND_TOOL_VERIFY };

/* Run `mode` on the handler named `name` in g, printing to out.
 * Returns the process exit status (0 ok, 1 problems found, 2 misuse). */
int rend_tool_run(struct rend_gen *g, const char *name, int mode, FILE *out);

#endif /* REND_TOOL_H */
