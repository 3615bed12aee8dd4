/* debug_server.c - a debug memcached: rend's in-process cache as the only
 * tier (L1 only) on 127.0.0.1:PORT (default 11211; 0 = any free port). */
#include <stdio.h>
#include <stdlib.h>
#include <rend/server.h>

int main(int argc, char **argv)
{
    rend_server *s = rend_server_new();
    rend_instance *mem = rend_server_plugin(s, "l1", "inmem", NULL, 0);
    int l = rend_server_listen_tcp(s, "127.0.0.1", argc > 1 ? atoi(argv[1]) : 11211);

    if (rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1ONLY, mem, NULL) != 0
        || rend_server_handle_signals(s, 1) != 0 || rend_server_start(s) != 0
        || printf("port %d\n", rend_server_port(s, l)) < 0 || fflush(stdout) != 0
        || rend_server_run(s) != 0) {
        fprintf(stderr, "debug_server: %s\n", rend_server_error(s));
        return 1;
    }
    rend_server_destroy(s);
    return 0;
}
