/*
 * rend_server_int.h - what the rend program's command line (rend_main.c)
 * needs from rend_server.c beyond the public rend/server.h.  Not
 * exported from librend (the export list is rend_server_* and rend_main).
 */
#ifndef REND_SERVER_INT_H
#define REND_SERVER_INT_H

#include <rend/server.h>

struct rend_gen;

/* rend -p / -l: the first listener of the config takes this port (-1:
 * the config's) and, when naddrs > 0, one socket per address (copied);
 * every_tcp (Rend's flag mode): the addresses apply to every TCP listener.
 * Before rend_server_start.  0 or a negative status (error set). */
int rend_srv_first_listener(rend_server *s, char *const *addrs,
                            unsigned naddrs, int port, int every_tcp);
/* The loaded (before start) or running generation, or NULL; owned by s. */
struct rend_gen *rend_srv_gen(rend_server *s);

#endif /* REND_SERVER_INT_H */
